"""``python -m emulator``: serve the emulator under ``/v1``, like api.openai.com.

Point the SDK at it with ``OPENAI_BASE_URL=http://127.0.0.1:8090/v1`` and any ``OPENAI_API_KEY``
(or the one given with ``--api-key``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from emulator.app import create_app
from emulator.settings import CLI_TIME_SCALE, EmulatorSettings, FaultProfile
from emulator.together import create_together_app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--time-scale", type=float, default=CLI_TIME_SCALE,
                        help=f"wall seconds per simulated second (default {CLI_TIME_SCALE}; 1 = unscaled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of loss curves and random faults")
    parser.add_argument("--api-key", default=None, help="required bearer key; unset: any non-empty key")
    parser.add_argument("--organization", default="emulator", help="the {org} part of ft: model names")
    parser.add_argument("--fault-profile", default=None, help="fault profile: a JSON file or inline JSON")
    parser.add_argument("--webhook-url", default=None, help="where to POST fine_tuning.job.* webhooks")
    parser.add_argument("--webhook-secret", default=None, help="whsec_… secret that signs the webhooks")
    parser.add_argument("--state-file", default=None, type=Path,
                        help="SQLite file that keeps jobs, files and fine-tuned models across restarts "
                             "(default: in memory only)")
    parser.add_argument("--log-level", default="info")
    return parser


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    faults = FaultProfile.parse(args.fault_profile) if args.fault_profile else FaultProfile()
    return EmulatorSettings(api_key=args.api_key, time_scale=args.time_scale, seed=args.seed,
                            organization=args.organization, webhook_url=args.webhook_url,
                            webhook_secret=args.webhook_secret, faults=faults, state_file=args.state_file)


def build_server_app(settings: EmulatorSettings) -> FastAPI:
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/v1", create_app(settings))
    root.mount("/together", create_together_app(settings))  # the SDK adds /v1: /together/v1/...
    return root


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    print(f"OpenAI emulator on http://{args.host}:{args.port}/v1 "
          f"(time scale {settings.time_scale}; state {settings.state_file or 'in memory'}); export OPENAI_BASE_URL=http://{args.host}:{args.port}/v1",
          file=sys.stderr)
    uvicorn.run(build_server_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
