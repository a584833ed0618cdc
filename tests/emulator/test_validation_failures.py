"""Bad inputs: malformed files fail the job in validating_files; bad requests are OpenAI's 400/404."""

from __future__ import annotations

import json

import openai
import pytest

from tests.emulator.data import chat_example, chat_file, jsonl
from tests.emulator.helpers import start_job, upload, wait_for_status


def _with_bad_line(line_number: int, bad: bytes, total: int = 12) -> bytes:
    lines = chat_file(total).splitlines()
    lines[line_number - 1] = bad
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize(("bad_line", "reason"), [
    (b'{"messages": [{"role": "user", "content": "hi"}', "not valid JSON"),
    (b'["a", "list"]', "not a JSON dictionary"),
    (b'{"prompt": "legacy", "completion": "format"}', "'messages'"),
    (json.dumps({"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}).encode(),
     "unrecognized role"),
    (json.dumps({"messages": [{"role": "user", "content": "only a question"}]}).encode(), "no assistant message"),
    (json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}).encode(), "missing content"),
    (b"", "is empty"),
])
def test_a_malformed_training_line_fails_the_job_naming_the_line(client: openai.OpenAI, bad_line: bytes,
                                                                reason: str) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, _with_bad_line(7, bad_line)))
    assert job.status == "validating_files"
    failed = wait_for_status(client, job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert "Line 7" in failed.error.message and reason in failed.error.message
    assert failed.trained_tokens is None and failed.fine_tuned_model is None
    assert failed.hyperparameters.n_epochs == "auto", "nothing was resolved for a file that never validated"
    errors = [e for e in client.fine_tuning.jobs.list_events(job.id) if e.level == "error"]
    assert errors and errors[0].message == failed.error.message


def test_a_malformed_validation_file_fails_with_its_own_code(client: openai.OpenAI) -> None:
    validation = upload(client, _with_bad_line(2, b"not json", total=3), "valid.jsonl")
    job = start_job(client, validation_file=validation)
    failed = wait_for_status(client, job.id)
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_validation_file", "validation_file")
    assert "Line 2" in failed.error.message


def test_fewer_than_ten_examples_is_refused(client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, chat_file(5)))
    failed = wait_for_status(client, job.id)
    assert failed.error is not None and failed.error.code == "invalid_n_examples"
    assert "has 5 example(s)" in failed.error.message


def test_tool_call_examples_are_valid_training_data(client: openai.OpenAI) -> None:
    rows = [chat_example(i) for i in range(9)]
    rows.append({"messages": [{"role": "user", "content": "land now"},
                              {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                                    "function": {"name": "land", "arguments": "{}"}}]}],
                 "tools": [{"type": "function", "function": {"name": "land", "parameters": {"type": "object"}}}]})
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, jsonl(rows)))
    assert wait_for_status(client, job.id).status == "succeeded"


def test_an_unknown_training_file_is_a_400_with_openais_body(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")
    assert caught.value.body == {"message": "invalid training_file: file-nope", "type": "invalid_request_error",
                                 "param": "training_file", "code": None}


def test_a_training_file_with_the_wrong_purpose_is_refused(client: openai.OpenAI) -> None:
    other = client.files.create(file=("notes.jsonl", chat_file(10)), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=other)
    assert caught.value.body["param"] == "training_file"  # type: ignore[index]


def test_a_model_that_cannot_be_fine_tuned_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-2-nonexistent", training_file=upload(client, chat_file(10)))
    assert caught.value.code == "model_not_available"


@pytest.mark.parametrize(("extra", "param"), [
    ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
    ({"suffix": "x" * 65}, "suffix"),
    ({"seed": -1}, "seed"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"integrations": [{"type": "slack", "slack": {}}]}, "integrations.0.type"),
])
def test_out_of_range_parameters_are_400s_naming_the_parameter(client: openai.OpenAI, extra: dict[str, object],
                                                               param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x", **extra)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_a_missing_required_parameter_is_named(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=openai.omit)  # type: ignore[arg-type]
    assert caught.value.code == "missing_required_parameter" and caught.value.param == "training_file"


def test_dpo_jobs_read_preference_pairs_and_resolve_beta(client: openai.OpenAI) -> None:
    pairs = [{"input": {"messages": [{"role": "user", "content": f"Say {i}"}]},
              "preferred_output": [{"role": "assistant", "content": f"{i}"}],
              "non_preferred_output": [{"role": "assistant", "content": "no"}]} for i in range(10)]
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, jsonl(pairs)),
                                         method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    done = wait_for_status(client, job.id)
    assert done.status == "succeeded"
    assert done.method is not None and done.method.dpo is not None
    assert done.method.dpo.hyperparameters is not None and done.method.dpo.hyperparameters.beta == 0.2
    reply = client.chat.completions.create(model=done.fine_tuned_model or "", messages=[{"role": "user",
                                                                                        "content": "Say 7"}])
    assert reply.choices[0].message.content == "7"
