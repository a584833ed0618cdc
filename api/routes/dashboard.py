"""The dashboard at ``/``: a static page and its script, shipped inside the package (no CDN).

It is a client of the same ``/v1`` API with the same API keys, so it adds no second way in: the
page itself holds no data and needs no key; every fetch it makes carries the key typed into it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parents[1] / "dashboard"
ASSETS_PATH = "/dashboard/assets"
# Only this origin's own script, styles and API; no inline script, no frames.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html",
                        headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="dashboard-assets")
