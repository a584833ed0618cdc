# ruff: noqa: RUF001  (the non-English sentences use their languages' own punctuation)
"""Generated chat datasets: synthetic ones of a chosen size (the memory test) and realistic ones (benchmarks).

Every example is distinct (its index is in the text), so nothing is served from the token cache
except the system prompts, as in a real dataset. ``write_chat_file`` draws words from a short
list; such text tokenizes ~1.7x faster than real text, so benchmarks use
``write_realistic_chat_file``: real prose and code (the standard library's docstrings and source),
varied lengths with a long tail, multi-turn conversations and a little non-English.
"""

from __future__ import annotations

import json
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WORDS = [
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
    "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
    "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
    "how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some",
    "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see",
    "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
    "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over", "new",
    "sound", "take", "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most",
    "very", "after", "thing", "our", "just", "name", "good", "sentence", "man", "think", "say", "great",
    "where", "help", "through", "much", "before", "line", "right", "too", "mean", "old", "any", "same", "tell",
    "boy", "follow", "came", "want", "show", "also", "around", "form", "three", "small", "set", "put", "end",
    "does", "another", "well", "large", "must", "big", "even", "such", "because", "turn", "here", "why", "ask",
    "went", "men", "read", "need", "land", "different", "home", "us", "move", "try", "kind", "hand", "picture",
    "again", "change", "off", "play", "spell", "air", "away", "animal", "house", "point", "page", "letter",
    "mother", "answer", "found", "study", "still", "learn", "should", "America", "world", "drone", "altitude",
    "battery", "camera", "weather", "forecast", "invoice", "refund", "shipping", "customer", "account",
    "password", "reset", "schedule", "meeting", "calendar", "reminder", "translate",
]

SYSTEM_PROMPT = "You are a helpful assistant for a delivery company. Answer briefly and politely."


def _paragraphs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(40, 110))]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + rng.choice([".", "?", "!"]))
    return out


def example_line(index: int, paragraphs: list[str]) -> str:
    k = len(paragraphs)
    example = {"messages": [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Ticket {index}: {paragraphs[index % k]}"},
        {"role": "assistant", "content": f"Reply {index}: {paragraphs[(index * 31 + 7) % k]} "
                                         f"{paragraphs[(index * 17 + 3) % k]}"},
    ]}
    return json.dumps(example, ensure_ascii=False) + "\n"


def write_chat_file(path: Path, target_bytes: int, *, seed: int = 7) -> int:
    """Write distinct chat examples until the file reaches ``target_bytes``; returns the example count."""
    paragraphs = _paragraphs(997, seed)
    written = count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        batch: list[str] = []
        while written < target_bytes:
            line = example_line(count, paragraphs)
            batch.append(line)
            written += len(line.encode("utf-8"))
            count += 1
            if len(batch) >= 1000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return count


# ---------------------------------------------------------------- realistic examples

# Real prose and real code, offline: the docstrings and the source of Python's own standard library
# (present wherever Python is). Non-English text is a few sentences per language, varied by mixing.
_STDLIB_MODULES = (
    "argparse", "asyncio/events", "asyncio/tasks", "collections/__init__", "concurrent/futures/_base", "csv",
    "dataclasses", "datetime", "decimal", "email/message", "enum", "fractions", "functools", "http/client",
    "http/server", "inspect", "json/__init__", "logging/__init__", "mailbox", "multiprocessing/pool", "pathlib",
    "pickle", "random", "shutil", "smtplib", "socket", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "typing", "unittest/case", "urllib/parse", "urllib/request", "uuid",
    "zipfile", "difflib", "heapq", "imaplib", "ipaddress", "locale", "optparse", "pdb", "pydoc", "sched",
)
_FOREIGN = (
    "Bonjour, je voudrais savoir quand ma commande sera livrée. Le numéro de suivi ne fonctionne pas.",
    "Merci beaucoup pour votre aide rapide ; le problème est résolu et tout fonctionne à nouveau.",
    "Guten Tag, meine Bestellung ist beschädigt angekommen. Können Sie mir bitte einen Ersatz schicken?",
    "Die Lieferung hat sich verzögert, weil das Paket im Verteilzentrum falsch sortiert wurde.",
    "Hola, ¿podrían decirme cuál es el horario de atención al cliente durante los días festivos?",
    "El reembolso se procesará en un plazo de cinco a siete días hábiles después de recibir el producto.",
    "Olá! Gostaria de alterar o endereço de entrega do meu pedido antes do envio.",
    "Ciao, il pacco è arrivato in ritardo e la scatola era aperta. Come posso fare un reclamo?",
    "Здравствуйте! Подскажите, пожалуйста, как изменить адрес доставки в моём заказе?",
    "Спасибо, посылка пришла вовремя, всё в полном порядке.",
    "こんにちは。注文した商品がまだ届いていません。配送状況を確認していただけますか。",
    "ご連絡ありがとうございます。返品の手続きは明日までに完了する予定です。",
    "您好，我的包裹显示已签收，但我并没有收到，请帮我查一下。",
    "感谢您的耐心等待，我们已经为您安排了重新发货。",
    "안녕하세요, 주문 취소가 가능한지 알고 싶습니다.",
    "مرحبا، أود معرفة موعد وصول طلبي من فضلك.",
)
_SYSTEM_PROMPTS = (
    "You are a helpful assistant for a delivery company. Answer briefly and politely.",
    "You are a senior Python developer. Explain code clearly and give working examples.",
    "You are a support agent. Be concise, cite the policy when relevant, and never promise refunds you cannot give.",
    "You answer questions about the Python standard library using its documentation.",
)


@dataclass(frozen=True)
class _Material:
    paragraphs: list[str]
    code: list[str]


def _material() -> _Material:
    import ast
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paragraphs: list[str] = []
    code: list[str] = []
    for name in _STDLIB_MODULES:
        path = stdlib / f"{name}.py"
        if not path.exists():
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        lines = source.splitlines()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                if doc:
                    paragraphs.extend(p.replace("\n", " ").strip() for p in doc.split("\n\n") if len(p) > 40)
            if isinstance(node, ast.FunctionDef) and node.end_lineno and 4 <= node.end_lineno - node.lineno <= 60:
                code.append(textwrap.dedent("\n".join(lines[node.lineno - 1:node.end_lineno])))
    if len(paragraphs) < 100 or len(code) < 100:
        raise RuntimeError(f"the standard library at {stdlib} gave too little text to build realistic data")
    return _Material(paragraphs, code)


def _length(rng: random.Random) -> int:
    """Paragraphs in a message: mostly short, some long (a heavy tail, as in real chat data)."""
    roll = rng.random()
    return 1 if roll < 0.35 else 2 if roll < 0.65 else rng.randint(3, 6) if roll < 0.93 else rng.randint(8, 20)


def realistic_example(index: int, rng: random.Random, material: _Material) -> dict[str, Any]:
    """One distinct chat example: system / user / assistant, some multi-turn, code, a little non-English."""
    def prose(count: int) -> str:
        return " ".join(rng.choice(material.paragraphs) for _ in range(count))

    def user_text() -> str:
        roll = rng.random()
        if roll < 0.03:
            return f"#{index}: " + rng.choice(_FOREIGN) + " " + rng.choice(_FOREIGN)
        if roll < 0.13:
            return f"Request {index}: what does this function do, and how would you test it?\n\n```python\n" \
                   f"{rng.choice(material.code)}\n```"
        question = rng.choice(("Can you explain this?", "What does this mean in practice?", "Summarise, please.",
                               "Is this right?", "How should I use this?"))
        return f"Question {index}: {prose(_length(rng))} {question}"

    def assistant_text() -> str:
        roll = rng.random()
        if roll < 0.03:
            return rng.choice(_FOREIGN)
        if roll < 0.15:
            return f"Here is one way to write it:\n\n```python\n{rng.choice(material.code)}\n```\n\n{prose(1)}"
        return prose(_length(rng))

    messages: list[dict[str, str]] = []
    if rng.random() < 0.9:
        messages.append({"role": "system", "content": rng.choice(_SYSTEM_PROMPTS)})
    turns = 1 if rng.random() < 0.75 else rng.randint(2, 4)
    for _ in range(turns):
        messages.append({"role": "user", "content": user_text()})
        messages.append({"role": "assistant", "content": assistant_text()})
    return {"messages": messages}


def write_realistic_chat_file(path: Path, examples: int, *, seed: int = 14) -> int:
    """Write ``examples`` distinct realistic chat examples; returns the file's size in bytes."""
    material = _material()
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        batch: list[str] = []
        for index in range(examples):
            batch.append(json.dumps(realistic_example(index, rng, material), ensure_ascii=False) + "\n")
            if len(batch) >= 1000:
                chunk = "".join(batch)
                written += len(chunk.encode("utf-8"))
                out.write(chunk)
                batch.clear()
        chunk = "".join(batch)
        written += len(chunk.encode("utf-8"))
        out.write(chunk)
    return written
