"""Evaluations (the third stage): held-out examples asked of models, every answer stored, metrics
recomputable from the stored items.

- ``parse``: reading a number, a label, text or JSON out of a model's reply;
- ``metrics``: per-item scores and per-model metrics (with parse rates) from stored items;
- ``baseline``: the trivial predictor from the job's training data;
- ``targets``: which models an evaluation asks (tenant walls on ``ft:`` names and checkpoints);
- ``pricing``: the money estimate before a run;
- ``service``: create / read / cancel, and the one function that moves an evaluation's status;
- ``runner``: the worker side, bounded concurrency, resumable.
"""
