"""Chat completions: nearest-example answers, tool calls, base models, streaming, usage."""

from __future__ import annotations

import json
from typing import Any, cast

import openai
import pytest
from openai.types.fine_tuning import FineTuningJob

from core.datasets.tokens import count_text_tokens
from emulator.chat import BASE_MODEL_REPLY
from tests.emulator.data import jsonl
from tests.emulator.helpers import upload, wait_for_status
from tests.emulator.server import RunningEmulator
from tests.paths import DRONE_DATASET

PIRATE = "You are a pirate."
PLAIN = "You are plain."


@pytest.fixture(scope="module")
def two_voices(emu: RunningEmulator) -> FineTuningJob:
    """The same questions answered under two system prompts."""
    client = emu.client()
    rows = []
    for i in range(6):
        for system, answer in ((PIRATE, f"Arr, {i} doubloons!"), (PLAIN, f"{i} coins.")):
            rows.append({"messages": [{"role": "system", "content": system},
                                      {"role": "user", "content": f"What does item {i} cost?"},
                                      {"role": "assistant", "content": answer}]})
    job = client.fine_tuning.jobs.create(model="gpt-4.1-nano", training_file=upload(client, jsonl(rows)))
    return wait_for_status(client, job.id)


@pytest.fixture(scope="module")
def drone(emu: RunningEmulator) -> FineTuningJob:
    client = emu.client()
    content = DRONE_DATASET.read_bytes()
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, content, "drone.jsonl"),
                                         hyperparameters={"n_epochs": 1})
    return wait_for_status(client, job.id)


def _ask(client: openai.OpenAI, model: str, question: str, system: str | None = None, **kwargs: Any) -> Any:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    return client.chat.completions.create(model=model, messages=cast(Any, messages), **kwargs)


def test_the_system_prompt_selects_among_equally_close_examples(client: openai.OpenAI,
                                                                two_voices: FineTuningJob) -> None:
    model = two_voices.fine_tuned_model or ""
    assert _ask(client, model, "What does item 4 cost?", PIRATE).choices[0].message.content == "Arr, 4 doubloons!"
    assert _ask(client, model, "What does item 4 cost?", PLAIN).choices[0].message.content == "4 coins."


def test_a_base_model_gives_the_same_unhelpful_reply(client: openai.OpenAI) -> None:
    replies = {_ask(client, model, "What does item 4 cost?").choices[0].message.content
               for model in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4.1-nano")}
    assert replies == {BASE_MODEL_REPLY}


def test_usage_counts_prompt_and_completion_tokens_exactly(client: openai.OpenAI, two_voices: FineTuningJob) -> None:
    reply = _ask(client, two_voices.fine_tuned_model or "", "What does item 2 cost?", PLAIN)
    usage = reply.usage
    assert usage is not None
    prompt = 3 + sum(3 + count_text_tokens(role) + count_text_tokens(text)
                     for role, text in (("system", PLAIN), ("user", "What does item 2 cost?")))
    assert usage.prompt_tokens == prompt
    assert usage.completion_tokens == count_text_tokens("2 coins.")


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI, two_voices: FineTuningJob) -> None:
    reply = _ask(client, two_voices.fine_tuned_model or "", "What does item 3 cost?", PIRATE, max_tokens=2)
    choice = reply.choices[0]
    assert choice.finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2
    assert "Arr, 3 doubloons!".startswith(choice.message.content or "")


def test_n_gives_that_many_choices(client: openai.OpenAI, two_voices: FineTuningJob) -> None:
    reply = _ask(client, two_voices.fine_tuned_model or "", "What does item 1 cost?", PLAIN, n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert {c.message.content for c in reply.choices} == {"1 coins."}


def test_streaming_yields_the_same_answer_with_usage(client: openai.OpenAI, two_voices: FineTuningJob) -> None:
    stream = _ask(client, two_voices.fine_tuned_model or "", "What does item 5 cost?", PIRATE, stream=True,
                  stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Arr, 5 doubloons!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == count_text_tokens(text)


def test_a_tool_calling_model_answers_with_the_learned_tool_call(client: openai.OpenAI, drone: FineTuningJob) -> None:
    assert drone.status == "succeeded", drone.error
    reply = _ask(client, drone.fine_tuned_model or "", "Let's get the drone in the air, how high should it go?")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert calls[0].type == "function"
    assert calls[0].function.name == "takeoff_drone"
    assert json.loads(calls[0].function.arguments) == {"altitude": 100}


def test_a_checkpoint_that_was_never_made_is_not_found(client: openai.OpenAI, two_voices: FineTuningJob) -> None:
    with pytest.raises(openai.NotFoundError):
        _ask(client, f"{two_voices.fine_tuned_model}:ckpt-step-7", "What does item 1 cost?")
