"""``create_app``: the emulator as an ASGI app serving OpenAI's paths at its root.

Mount it under any prefix (``/v1`` for ``python -m emulator``, ``/emulator/v1`` in the service's
embedded mode); paths, the call log and fault patterns are all relative to the mount point.
"""

from __future__ import annotations

from fastapi import FastAPI

from emulator.errors import install_error_handlers
from emulator.middleware import EmulatorMiddleware
from emulator.routes import chat, control, files, jobs
from emulator.settings import EmulatorSettings
from emulator.state import EmulatorState


def create_app(settings: EmulatorSettings | None = None) -> FastAPI:
    settings = settings or EmulatorSettings()
    state = EmulatorState(settings)
    app = FastAPI(title="finetuner OpenAI emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    install_error_handlers(app)
    for module in (files, jobs, chat, control):
        app.include_router(module.router)
    app.add_middleware(EmulatorMiddleware, state=state)
    return app
