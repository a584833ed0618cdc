"""An OpenAI-compatible fine-tuning server for tests and offline rehearsals (see README.md)."""

from emulator.app import create_app
from emulator.settings import CLI_TIME_SCALE, TEST_TIME_SCALE, EmulatorSettings, FaultProfile, FaultRule
from emulator.state import Call, EmulatorState
from emulator.together import create_together_app

__all__ = [
    "CLI_TIME_SCALE",
    "TEST_TIME_SCALE",
    "Call",
    "EmulatorSettings",
    "EmulatorState",
    "FaultProfile",
    "FaultRule",
    "create_app",
    "create_together_app",
]
