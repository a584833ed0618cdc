"""``python -m bench`` (``make bench``): run every ``bench/bench_*.py`` module's ``main()`` in turn.

Each benchmark prints its own figures and, where there is one, its peer's side by side. Pass
module names (``python -m bench validation``) to run only some.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def _modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    wanted = {name.removeprefix("bench_") for name in argv}
    for name in _modules():
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"== {name} done in {time.perf_counter() - start:.1f} s\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
