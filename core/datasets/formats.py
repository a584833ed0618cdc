"""The three example shapes we accept, checked against today's OpenAI format and made canonical.

- chat: ``{"messages": [...], "tools"?, "parallel_tool_calls"?, "functions"?}`` (supervised);
- prompt_completion: legacy ``{"prompt", "completion"}``, turned into a user + assistant chat;
- preference: ``{"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}`` (DPO).

Each checker appends ``(code, message)`` problems and returns the canonical example, or None when
the line is too broken to count. Unknown top-level keys are dropped from the canonical form (and
reported as a warning) rather than refused, since what is uploaded is the canonical file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

ROLES = ("system", "user", "assistant", "tool", "function")
_ROLE_SET = frozenset(ROLES)
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
CHAT_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")
PROMPT_COMPLETION_KEYS = ("prompt", "completion")

KINDS = ("chat", "prompt_completion", "preference")


@dataclass
class Checked:
    """The outcome of checking one example."""

    canonical: dict[str, Any] | None
    problems: list[tuple[str, str]] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    no_trained_messages: bool = False

    def add(self, code: str, message: str) -> None:
        self.problems.append((code, message))


def kind_of(example: dict[str, Any]) -> str | None:
    """Which shape an object claims to be, from its keys (None: none of ours)."""
    if "messages" in example:
        return "chat"
    if "input" in example and ("preferred_output" in example or "non_preferred_output" in example):
        return "preference"
    if "prompt" in example or "completion" in example:
        return "prompt_completion"
    return None


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _tool_call_problem(call: Any) -> str | None:
    if not isinstance(call, dict):
        return f"is {type_name(call)}, not an object"
    if call.get("type", "function") != "function":
        return f"has type {call.get('type')!r}; only 'function' is supported"
    if "id" in call and not isinstance(call["id"], str):
        return "has an 'id' that is not a string"
    function = call.get("function")
    if not isinstance(function, dict):
        return "has no 'function' object"
    return _function_call_problem(function)


def _function_call_problem(function: Any) -> str | None:
    if not isinstance(function, dict):
        return f"is {type_name(function)}, not an object"
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return "needs a non-empty string 'name'"
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        return f"'arguments' must be a string of JSON, not {type_name(arguments)}"
    try:
        orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return "'arguments' is not valid JSON"
    return None


def _tool_definition_problem(tool: Any, legacy: bool) -> str | None:
    if not isinstance(tool, dict):
        return f"is {type_name(tool)}, not an object"
    if not legacy:
        if tool.get("type") != "function":
            return "needs \"type\": \"function\""
        tool = tool.get("function")
        if not isinstance(tool, dict):
            return "has no 'function' object"
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        return "needs a non-empty string 'name'"
    if "parameters" in tool and not isinstance(tool["parameters"], dict):
        return "has 'parameters' that is not a JSON Schema object"
    if "description" in tool and not isinstance(tool["description"], str):
        return "has a 'description' that is not a string"
    return None


def _check_message(message: Any, where: str, out: Checked) -> bool:
    """Check one message; True when it is an object (so it can be counted)."""
    if not isinstance(message, dict):
        out.add("data_type", f"{where} is {type_name(message)}, not a message object")
        return False
    role = message.get("role")
    if "role" not in message:
        out.add("message_missing_key", f"{where} has no 'role'")
    elif not isinstance(role, str) or role not in _ROLE_SET:
        out.add("unrecognized_role", f"{where}.role is {role!r}; expected one of {', '.join(ROLES)}")
    unknown = [key for key in message if key not in MESSAGE_KEYS]
    if unknown:
        out.add("message_unrecognized_key", f"{where} has unrecognized key(s) {', '.join(map(repr, unknown))}")

    calls = message.get("tool_calls")
    function_call = message.get("function_call")
    makes_calls = role == "assistant" and (calls is not None or function_call is not None)
    if "content" not in message:
        if not makes_calls:
            out.add("message_missing_key", f"{where} has no 'content'")
    else:
        content = message["content"]
        if content is None:
            if not makes_calls:
                out.add("missing_content", f"{where}.content is null")
        elif not isinstance(content, str):
            hint = " (content parts are not supported here)" if isinstance(content, list) else ""
            out.add("missing_content", f"{where}.content must be a string, not {type_name(content)}{hint}")
        elif not content and not makes_calls:
            out.add("missing_content", f"{where}.content is empty")

    for key in ("name", "tool_call_id"):
        if key in message and not isinstance(message[key], str):
            out.add("invalid_value", f"{where}.{key} must be a string, not {type_name(message[key])}")
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            out.add("invalid_weight", f"{where} has a 'weight'; only assistant messages take one")
        elif isinstance(weight, bool) or not isinstance(weight, int | float) or weight not in (0, 1):
            out.add("invalid_weight", f"{where}.weight must be 0 or 1, not {orjson.dumps(weight).decode()}")
    if calls is not None:
        if role != "assistant":
            out.add("invalid_tool_call", f"{where} has 'tool_calls'; only assistant messages make them")
        elif not isinstance(calls, list) or not calls:
            out.add("invalid_tool_call", f"{where}.tool_calls must be a non-empty list")
        else:
            for index, call in enumerate(calls):
                problem = _tool_call_problem(call)
                if problem:
                    out.add("invalid_tool_call", f"{where}.tool_calls[{index}] {problem}")
                    break
    if function_call is not None:
        problem = _function_call_problem(function_call)
        if role != "assistant":
            out.add("invalid_tool_call", f"{where} has 'function_call'; only assistant messages make them")
        elif problem:
            out.add("invalid_tool_call", f"{where}.function_call {problem}")
    return True


def _check_conversation(holder: dict[str, Any], prefix: str, out: Checked, *, needs_assistant: bool
                        ) -> dict[str, Any] | None:
    """Check ``messages`` and the tool settings beside them; return the canonical holder."""
    messages = holder.get("messages")
    if not isinstance(messages, list) or not messages:
        detail = "is missing" if "messages" not in holder else f"is {type_name(messages)}"
        if isinstance(messages, list):
            detail = "is empty"
        out.add("missing_messages_list", f"{prefix}'messages' {detail}; it must be a non-empty list of messages")
        return None
    countable = True
    has_assistant = trained = False
    for index, message in enumerate(messages):
        countable &= _check_message(message, f"{prefix}messages[{index}]", out)
        if isinstance(message, dict) and message.get("role") == "assistant":
            has_assistant = True
            trained |= message.get("weight", 1) != 0
    if needs_assistant and not has_assistant:
        out.add("example_missing_assistant_message", f"{prefix}messages has no assistant message to learn from")
    out.no_trained_messages |= needs_assistant and has_assistant and not trained

    for key, legacy in (("tools", False), ("functions", True)):
        if key not in holder:
            continue
        tools = holder[key]
        if not isinstance(tools, list):
            out.add("invalid_tools", f"{prefix}{key} must be a list, not {type_name(tools)}")
            continue
        for index, tool in enumerate(tools):
            problem = _tool_definition_problem(tool, legacy)
            if problem:
                out.add("invalid_tools", f"{prefix}{key}[{index}] {problem}")
                break
    if "parallel_tool_calls" in holder and not isinstance(holder["parallel_tool_calls"], bool):
        out.add("invalid_value", f"{prefix}parallel_tool_calls must be true or false")

    if not countable:
        return None
    ignored = [key for key in holder if key not in CHAT_KEYS]
    if not ignored:
        return holder
    out.ignored_keys.extend(prefix + key for key in ignored)
    return {key: value for key, value in holder.items() if key in CHAT_KEYS}


def check_chat(example: dict[str, Any], out: Checked, _system_prompt: str | None = None) -> dict[str, Any] | None:
    return _check_conversation(example, "", out, needs_assistant=True)


def check_preference(example: dict[str, Any], out: Checked, _system_prompt: str | None = None
                     ) -> dict[str, Any] | None:
    source = example.get("input")
    if not isinstance(source, dict):
        out.add("missing_messages_list", "'input' must be an object with a 'messages' list")
        prompt = None
    else:
        prompt = _check_conversation(source, "input.", out, needs_assistant=False)
    outputs: dict[str, list[Any]] = {}
    for key in ("preferred_output", "non_preferred_output"):
        answer = example.get(key)
        if not isinstance(answer, list) or len(answer) != 1:
            shape = "is missing" if key not in example else f"is {type_name(answer)}"
            if isinstance(answer, list):
                shape = f"has {len(answer)} messages"
            out.add("invalid_preference_output", f"{key} {shape}; it must be a list of one assistant message")
            continue
        message = answer[0]
        if _check_message(message, f"{key}[0]", out):
            if message.get("role") != "assistant":
                out.add("invalid_preference_output", f"{key}[0] must be an assistant message")
            outputs[key] = answer
    ignored = [key for key in example if key not in PREFERENCE_KEYS]
    out.ignored_keys.extend(ignored)
    if prompt is None or len(outputs) != 2:
        return None
    return {"input": prompt, **outputs}


def check_prompt_completion(
    example: dict[str, Any], out: Checked, system_prompt: str | None = None,
    labels: tuple[str, str] = PROMPT_COMPLETION_KEYS,
) -> dict[str, Any] | None:
    """Legacy prompt/completion becomes user + assistant (after the given system prompt, if any)."""
    texts: list[str] = []
    for key, label in zip(PROMPT_COMPLETION_KEYS, labels, strict=True):
        if key not in example:
            out.add("message_missing_key", f"no {label!r}")
            continue
        value = example[key]
        if not isinstance(value, str):
            out.add("missing_content", f"{label!r} must be a string, not {type_name(value)}")
        elif not value:
            out.add("missing_content", f"{label!r} is empty")
        else:
            texts.append(value)
    out.ignored_keys.extend(key for key in example if key not in PROMPT_COMPLETION_KEYS)
    if len(texts) != 2:
        return None
    messages = [{"role": "user", "content": texts[0]}, {"role": "assistant", "content": texts[1]}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return {"messages": messages}


Checker = Callable[[dict[str, Any], Checked, str | None], dict[str, Any] | None]
CHECKERS: dict[str, Checker] = {
    "chat": check_chat,
    "prompt_completion": check_prompt_completion,
    "preference": check_preference,
}


def conversation_of(canonical: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The messages whose roles the statistics look at (a DPO pair's input)."""
    if kind == "preference":
        messages: list[dict[str, Any]] = canonical["input"]["messages"]
        return messages
    chat: list[dict[str, Any]] = canonical["messages"]
    return chat
