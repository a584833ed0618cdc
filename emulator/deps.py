"""Route dependencies: the state object of the app a request reached."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from emulator.state import EmulatorState


def get_state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


StateDep = Annotated[EmulatorState, Depends(get_state)]
