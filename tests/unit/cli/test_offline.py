"""``finetuner validate`` gives exact counts on a machine with no network and no tokenizer cache.

The subprocess gets empty TIKTOKEN_CACHE_DIR / DATA_GYM_CACHE_DIR / TMPDIR / HOME, proxy variables
pointing at a closed local port, and a ``sitecustomize`` that makes every socket connect and DNS
lookup raise. A control run in the same environment proves the block is in force.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.paths import TOY_DATASET

SITECUSTOMIZE = '''
import os, socket

def _refuse(*args, **kwargs):
    raise OSError("network blocked by the offline test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
open(os.environ["OFFLINE_MARKER"], "w").write("loaded")
'''

REPO = Path(__file__).resolve().parents[3]
TOY = TOY_DATASET


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _offline_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {key: value for key, value in os.environ.items()
           if not key.lower().endswith("_proxy") and key not in ("PYTHONPATH", "PYTHONHOME")}
    for name in ("tiktoken_cache", "data_gym_cache", "tmp", "home"):
        (tmp_path / name).mkdir()
    env.update({
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "OFFLINE_MARKER": str(tmp_path / "marker"),
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken_cache"),
        "DATA_GYM_CACHE_DIR": str(tmp_path / "data_gym_cache"),
        "TMPDIR": str(tmp_path / "tmp"),
        "HOME": str(tmp_path / "home"),
        "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy,
        "http_proxy": proxy, "https_proxy": proxy, "all_proxy": proxy,
    })
    return env


def _finetuner_command() -> list[str]:
    script = Path(sys.executable).parent / "finetuner"
    return [str(script)] if script.exists() else [sys.executable, "-m", "finetuner"]


def test_validate_counts_exactly_with_no_network_and_no_cache(tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    control = subprocess.run(
        [sys.executable, "-c", "import urllib.request; urllib.request.urlopen('https://openaipublic.blob.core."
                               "windows.net/encodings/cl100k_base.tiktoken', timeout=5)"],
        env=env, capture_output=True, text=True, timeout=60)
    assert control.returncode != 0 and "network blocked" in control.stderr, control.stderr[-500:]

    for encoding, expected_total in (("cl100k_base", 8242), ("o200k_base", None)):
        result = subprocess.run([*_finetuner_command(), "validate", str(TOY), "--encoding", encoding, "--json"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, result.stderr[-2000:]  # too few examples, as the cookbook's toy file is
        report = json.loads(result.stdout)
        assert report["encoding"] == encoding
        if expected_total is not None:
            assert (report["billed_tokens"], report["n_epochs"], report["charged_tokens"]) == (8242, 20, 164_840)
            assert report["stats"]["total_tokens_per_example"]["median"] == 45
        else:
            assert report["billed_tokens"] > 0
    assert (tmp_path / "marker").read_text() == "loaded", "the network block must have been in force"
    for name in ("tiktoken_cache", "data_gym_cache", "tmp"):
        assert list((tmp_path / name).iterdir()) == [], f"{name} must stay empty: nothing is downloaded or cached"
