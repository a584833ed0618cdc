"""``python -m finetuner``: the same as the ``finetuner`` command."""

from finetuner.cli import main

main()
