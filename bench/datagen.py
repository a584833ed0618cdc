"""Generated chat datasets of a chosen size, for the memory test and the validation benchmark.

Every example is distinct (its index is in the text), so nothing is served from the token cache
except the system prompt, as in a real dataset; the text is English-like so the tokenizer works
as hard as on real data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

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
