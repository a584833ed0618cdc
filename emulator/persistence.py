"""The emulator's state on disk: one SQLite file, so fine-tuned models survive a restart.

``EmulatorState`` writes through: after every call that changed something (and at most every
``SAVE_INTERVAL`` seconds while jobs run) the changed files, jobs and models are written in one
transaction together with ``saved_at``, the emulator clock's instant they are current to. On load,
the downtime (now - ``saved_at``) is added to every active job's phase start, exactly as pause does:
the simulated clock stops while the process is down and resumes where it stopped, so a job that was
running continues from the step it had reached instead of jumping to the end or vanishing.

Rows are pickled dataclasses. The file is the emulator's own working state, like a database file:
only load a file this emulator wrote (unpickling runs code from it).
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Wall seconds between two saves of a running job's progress when nobody calls the API.
SAVE_INTERVAL = 0.5

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, job_id TEXT NOT NULL, record BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
)


@dataclass
class Snapshot:
    """What a state file held: rows in insertion order, and the bookkeeping values."""

    files: list[Any] = field(default_factory=list)
    jobs: list[tuple[int, Any]] = field(default_factory=list)
    models: list[tuple[str, str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Changes:
    """One transaction's worth of writes."""

    files: list[Any] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    jobs: list[tuple[int, Any]] = field(default_factory=list)
    models: list[tuple[str, str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class StateFile:
    """A SQLite file of pickled rows; every method is called with the emulator's lock held."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last save, never corrupt
        for statement in _SCHEMA:
            self._db.execute(statement)

    def load(self) -> Snapshot:
        with self._lock:
            snap = Snapshot()
            snap.files = [pickle.loads(r) for (r,) in self._db.execute("SELECT record FROM files ORDER BY seq")]
            snap.jobs = [(seq, pickle.loads(r)) for seq, r in self._db.execute(
                "SELECT seq, record FROM jobs ORDER BY seq")]
            snap.models = [(name, job_id, pickle.loads(r)) for name, job_id, r in self._db.execute(
                "SELECT name, job_id, record FROM models")]
            snap.meta = {k: pickle.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
            return snap

    def write(self, changes: Changes) -> None:
        dump = pickle.dumps
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO files (id, seq, record) VALUES (?, ?, ?)",
                                     [(f.id, f.seq, dump(f)) for f in changes.files])
                self._db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in changes.deleted_files])
                self._db.executemany("INSERT OR REPLACE INTO jobs (id, seq, record) VALUES (?, ?, ?)",
                                     [(job.id, seq, dump(job)) for seq, job in changes.jobs])
                self._db.executemany("INSERT OR REPLACE INTO models (name, job_id, record) VALUES (?, ?, ?)",
                                     [(name, job_id, dump(model)) for name, job_id, model in changes.models])
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                     [(k, dump(v)) for k, v in changes.meta.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
