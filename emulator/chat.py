"""Answers for ``/chat/completions``: what a fine-tuned model "learned", and a base model's shrug.

A fine-tuned model replies with the assistant turn of the training example whose last user message
shares the most tokens with the request's last user message (Jaccard overlap of token ids). When the
request carries a system prompt that some training examples share verbatim, only those examples are
candidates, as a model fine-tuned under one system prompt behaves best under it. A base model gives
one fixed, deterministic, unhelpful reply, so an evaluation of fine-tuned vs. base shows a real gap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.datasets.tokens import count_text_tokens, get_encoding
from emulator import ids
from emulator.datafile import Example, messages_tokens

BASE_MODEL_REPLY = "I'm sorry, I don't have enough information to answer that."


@dataclass(frozen=True)
class TrainedModel:
    """A chat-able model: a fine-tuned model or checkpoint, with the examples it was trained on."""

    name: str
    encoding: str
    examples: tuple[Example, ...]
    prompt_tokens: tuple[frozenset[int], ...]

    @classmethod
    def build(cls, name: str, encoding: str, examples: Sequence[Example]) -> TrainedModel:
        enc = get_encoding(encoding)
        token_sets = tuple(frozenset(enc.encode(e.prompt, disallowed_special=())) for e in examples)
        return cls(name, encoding, tuple(examples), token_sets)

    def nearest(self, system: str | None, prompt: str) -> Example | None:
        if not self.examples:
            return None
        candidates = range(len(self.examples))
        if system is not None:
            same_system = [i for i in candidates if self.examples[i].system == system]
            candidates = same_system or candidates  # type: ignore[assignment]
        query = frozenset(get_encoding(self.encoding).encode(prompt, disallowed_special=()))
        best, best_score = None, -1.0
        for i in candidates:
            tokens = self.prompt_tokens[i]
            union = len(query | tokens)
            score = len(query & tokens) / union if union else 1.0
            if score > best_score:
                best, best_score = i, score
        return self.examples[best] if best is not None else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _query(messages: list[dict[str, Any]]) -> tuple[str | None, str]:
    system = next((_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")), None)
    prompt = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), None)
    if prompt is None:
        prompt = " ".join(_text(m.get("content")) for m in messages)
    return system, prompt


@dataclass(frozen=True)
class Answer:
    message: dict[str, Any]
    finish_reason: str
    completion_tokens: int


def answer(model: TrainedModel | None, encoding: str, messages: list[dict[str, Any]],
           max_tokens: int | None) -> Answer:
    """The reply of ``model`` (None: a base model) to ``messages``."""
    example = model.nearest(*_query(messages)) if model is not None else None
    reply: dict[str, Any] = example.reply if example is not None else {"role": "assistant", "content": BASE_MODEL_REPLY}
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if reply.get("tool_calls"):
        message["tool_calls"] = [
            {"id": ids.call_id(), "type": "function",
             "function": {"name": str(call.get("function", {}).get("name", "")),
                          "arguments": str(call.get("function", {}).get("arguments", "{}"))}}
            for call in reply["tool_calls"]
        ]
        tokens = count_text_tokens(json.dumps(message["tool_calls"], separators=(",", ":")), encoding)
        return Answer(message, "tool_calls", tokens)
    if reply.get("function_call"):
        call = reply["function_call"]
        message["function_call"] = {"name": str(call.get("name", "")), "arguments": str(call.get("arguments", "{}"))}
        tokens = count_text_tokens(json.dumps(message["function_call"], separators=(",", ":")), encoding)
        return Answer(message, "function_call", tokens)
    text = _text(reply.get("content"))
    token_ids = get_encoding(encoding).encode(text, disallowed_special=())
    finish = "stop"
    if max_tokens is not None and len(token_ids) > max_tokens:
        token_ids, finish = token_ids[:max_tokens], "length"
        text = get_encoding(encoding).decode(token_ids)
    message["content"] = text
    return Answer(message, finish, len(token_ids))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def completion(model_name: str, model: TrainedModel | None, encoding: str, messages: list[dict[str, Any]],
               *, n: int = 1, max_tokens: int | None = None) -> dict[str, Any]:
    answers = [answer(model, encoding, messages, max_tokens) for _ in range(n)]
    prompt_tokens = messages_tokens(messages, encoding)
    return {
        "id": ids.completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": i, "message": a.message, "logprobs": None, "finish_reason": a.finish_reason}
                    for i, a in enumerate(answers)],
        "usage": usage(prompt_tokens, sum(a.completion_tokens for a in answers)),
        "service_tier": "default",
        "system_fingerprint": "fp_emulator",
    }


def stream_chunks(body: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunks a streamed request receives for the same answer ``completion`` returns."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
            "model": body["model"], "service_tier": body["service_tier"],
            "system_fingerprint": body["system_fingerprint"]}
    for choice in body["choices"]:
        message, index = choice["message"], choice["index"]
        yield {**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                    "logprobs": None, "finish_reason": None}]}
        if message.get("tool_calls"):
            calls = message["tool_calls"]
            delta: dict[str, Any] = {"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]}
        elif message.get("function_call"):
            delta = {"function_call": message["function_call"]}
        else:
            delta = {"content": message["content"]}
        yield {**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]}
        yield {**base, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                    "finish_reason": choice["finish_reason"]}]}
    if include_usage:
        yield {**base, "choices": [], "usage": body["usage"]}
