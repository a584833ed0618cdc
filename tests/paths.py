"""Where the files tests read live: inside the repository, never beside it (see ``tests/data/README.md``)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "tests" / "data"
TOY_DATASET = DATA_DIR / "toy_chat_fine_tuning.jsonl"
DRONE_DATASET = DATA_DIR / "drone_training.jsonl"
