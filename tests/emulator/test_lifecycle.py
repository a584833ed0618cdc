"""The whole journey through the official SDK: upload → train → events → checkpoints → results → chat."""

from __future__ import annotations

import base64
import csv
import io
import time

import openai
import pytest
from openai.types.fine_tuning import FineTuningJob

from core.datasets.tokens import count_text_tokens, get_encoding
from emulator import formulas
from tests.emulator.data import FRUITS, SYSTEM, chat_example, chat_file
from tests.emulator.helpers import all_events, metrics_data, upload, wait_for_status
from tests.emulator.server import RunningEmulator

N_TRAIN = 100
Trained = tuple[openai.OpenAI, FineTuningJob, float]


def cookbook_tokens(example: dict[str, list[dict[str, str]]]) -> int:
    total = 3
    for message in example["messages"]:
        total += 3 + sum(count_text_tokens(v, "o200k_base") for v in message.values())
    return total


@pytest.fixture(scope="module")
def trained(emu: RunningEmulator) -> Trained:
    """One 100-example, 3-epoch job with a validation file, run to completion."""
    client = emu.client()
    get_encoding("o200k_base")  # load the tokenizer first: the timing below is the job's, not its
    training = upload(client, chat_file(N_TRAIN), "fruit-train.jsonl")
    validation = upload(client, chat_file(20, start=500), "fruit-valid.jsonl")
    started = time.monotonic()
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training, validation_file=validation, suffix="fruit", seed=1234,
        metadata={"finetuner_job_id": "job_lifecycle", "team": "shop"},
        integrations=[{"type": "wandb", "wandb": {"project": "fruit-shop", "tags": ["emulated"]}}],
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    assert job.status == "validating_files"
    done = wait_for_status(client, job.id, timeout=10)
    return client, done, time.monotonic() - started


def test_a_100_example_3_epoch_job_succeeds_in_under_two_seconds(trained: Trained) -> None:
    _, job, elapsed = trained
    assert job.status == "succeeded", job.error
    assert elapsed < 2.0, f"took {elapsed:.2f}s"


def test_job_echoes_what_was_asked_and_shows_resolved_values(trained: Trained) -> None:
    _, job, _ = trained
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.seed == 1234
    assert job.metadata == {"finetuner_job_id": "job_lifecycle", "team": "shop"}
    assert job.integrations and job.integrations[0].wandb.project == "fruit-shop"
    assert job.integrations[0].wandb.tags == ["emulated"]
    assert job.method and job.method.type == "supervised"
    assert job.method.supervised is not None and job.method.supervised.hyperparameters is not None
    resolved = job.method.supervised.hyperparameters
    assert (resolved.n_epochs, resolved.batch_size) == (3, formulas.auto_batch_size(N_TRAIN)) == (3, 1)
    assert resolved.learning_rate_multiplier == formulas.AUTO_LEARNING_RATE_MULTIPLIER
    assert job.hyperparameters.n_epochs == 3
    assert job.fine_tuned_model is not None
    assert job.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:emulator:fruit:")
    assert len(job.fine_tuned_model.split(":")) == 5
    assert job.finished_at is not None and job.finished_at >= job.created_at
    assert job.estimated_finish is None
    assert job.error is None


def test_trained_tokens_follow_the_cookbook_formula_times_epochs(trained: Trained) -> None:
    _, job, _ = trained
    expected = 3 * sum(cookbook_tokens(chat_example(i)) for i in range(N_TRAIN))
    assert job.trained_tokens == expected


def test_events_hold_every_step_in_order_with_validation_metrics(trained: Trained) -> None:
    client, job, _ = trained
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=37))  # the SDK's auto-paging iterator
    assert len({e.id for e in events}) == len(events)
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    chronological = list(reversed(events))
    metrics = [e for e in chronological if e.type == "metrics"]
    total = 3 * N_TRAIN
    assert [d["step"] for d in metrics_data(metrics)] == list(range(1, total + 1))
    for event, data in zip(metrics, metrics_data(metrics), strict=True):
        assert {"train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"} <= set(data)
        assert event.message.startswith(f"Step {data['step']}/{total}: training loss=")
        epoch_end = data["step"] % N_TRAIN == 0
        assert ("full_valid_loss" in data) == epoch_end
        assert ("full_valid_mean_token_accuracy" in data) == epoch_end
    losses = [d["train_loss"] for d in metrics_data(metrics)]
    assert sum(losses[:30]) / 30 > 2 * sum(losses[-30:]) / 30, "the loss curve must decrease"
    messages = [e.message for e in chronological if e.type == "message"]
    assert messages[0] == f"Created fine-tuning job: {job.id}"
    assert messages[-1] == "The job has successfully completed"
    assert "Fine-tuning job started" in messages
    assert chronological.index(metrics[0]) > messages.index("Fine-tuning job started")


def test_event_pages_default_to_20(trained: Trained) -> None:
    client, job, _ = trained
    page = client.fine_tuning.jobs.list_events(job.id)
    assert len(page.data) == 20 and page.has_more


def test_checkpoints_keep_the_last_three_epochs_newest_first(trained: Trained) -> None:
    client, job, _ = trained
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [300, 200, 100]
    for checkpoint in checkpoints:
        assert checkpoint.fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{checkpoint.step_number}"
        assert checkpoint.fine_tuning_job_id == job.id
        assert checkpoint.metrics.full_valid_loss is not None
    page = client.fine_tuning.jobs.checkpoints.list(job.id, limit=1, after=checkpoints[0].id)
    assert [c.id for c in page.data] == [checkpoints[1].id] and page.has_more


def test_result_file_is_a_base64_csv_of_every_step(trained: Trained) -> None:
    client, job, _ = trained
    (result_id,) = job.result_files
    meta = client.files.retrieve(result_id)
    assert meta.purpose == "fine-tune-results"
    raw = client.files.content(result_id).content
    assert meta.bytes == len(raw)
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(raw).decode("utf-8"))))
    assert list(rows[0]) == ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
    assert [int(r["step"]) for r in rows] == list(range(1, 3 * N_TRAIN + 1))
    assert all(float(r["valid_loss"]) > 0 for r in rows)


def test_fine_tuned_model_answers_from_training_data_and_beats_its_base(trained: Trained) -> None:
    client, job, _ = trained
    assert job.fine_tuned_model is not None
    hits = {"ft": 0, "base": 0}
    for i in (3, 17, 42, 77, 99):
        example = chat_example(i)
        question = example["messages"][1]["content"]
        expected = example["messages"][2]["content"]
        for key, model in (("ft", job.fine_tuned_model), ("base", "gpt-4o-mini")):
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
            hits[key] += reply.choices[0].message.content == expected
    assert hits == {"ft": 5, "base": 0}


def test_a_paraphrased_question_gets_the_nearest_examples_answer(trained: Trained) -> None:
    client, job, _ = trained
    assert job.fine_tuned_model is not None
    reply = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": f"in aisle 42, how much would one {FRUITS[42 % len(FRUITS)]} cost me?"}])
    assert reply.choices[0].message.content == chat_example(42)["messages"][2]["content"]
    usage = reply.usage
    assert usage is not None and usage.completion_tokens == count_text_tokens(
        chat_example(42)["messages"][2]["content"], "o200k_base")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_checkpoint_models_can_be_chatted_with(trained: Trained) -> None:
    client, job, _ = trained
    reply = client.chat.completions.create(model=f"{job.fine_tuned_model}:ckpt-step-200",
                                           messages=[{"role": "user", "content": "one fig in aisle 5?"}])
    assert reply.choices[0].message.content == chat_example(5)["messages"][2]["content"]


def test_same_seed_and_data_give_the_same_curve(emu: RunningEmulator) -> None:
    client = emu.client()
    training = upload(client, chat_file(12))
    jobs = [client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training, seed=99) for _ in range(2)]
    curves = []
    for job in jobs:
        wait_for_status(client, job.id)
        curves.append([d["train_loss"] for d in metrics_data(all_events(client, job.id))])
    assert curves[0] == curves[1] and len(curves[0]) == 12 * formulas.auto_epochs(12)
