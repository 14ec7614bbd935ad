"""The FastAPI application: auth, body limits, /v1 routes, health, and the dashboard at ``/``."""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import plotly
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.routes import router
from api.schemas import Health, Ready
from api.store import TrialStore

DASHBOARD = Path(__file__).with_name("dashboard")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
MAX_BODY_BYTES = 64 * 1024


def _version() -> str:
    try:
        return version("nas")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(store: TrialStore | None = None, api_key: str | None = None,
               start_worker: Callable[[TrialStore], Callable[[], None]] | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """Build the app. ``api_key`` defaults to ``$NAS_API_KEY`` (no auth when unset);
    ``start_worker(store)`` runs an in-process worker and returns its stop function."""
    key = api_key if api_key is not None else os.environ.get("NAS_API_KEY") or None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = store or TrialStore()
        stop = start_worker(app.state.store) if start_worker else None
        yield
        if stop:
            stop()

    async def require_key(request: Request) -> None:  # async: no threadpool hop for a header check
        given = request.headers.get("x-api-key", "")
        if key and not hmac.compare_digest(given.encode(), key.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key (header X-API-Key)")

    app = FastAPI(title="nas", version=_version(), lifespan=lifespan,
                  description="Neural architecture search jobs, their trials and Pareto fronts.")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.include_router(router, dependencies=[Depends(require_key)],
                       responses={401: {"description": "missing or invalid API key"}})

    @app.exception_handler(OperationalError)
    async def database_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable, retry shortly"}, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness; never needs the API key."""
        return Health(status="ok", version=_version())

    @app.get("/v1/ready", response_model=Ready, tags=["service"], dependencies=[Depends(require_key)],
             responses={503: {"description": "the database does not answer"}})
    def ready(request: Request) -> Ready:
        with request.app.state.store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return Ready(status="ready", database=request.app.state.store.engine.dialect.name)

    app.mount("/static", StaticFiles(directory=DASHBOARD), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD / "index.html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="application/javascript")

    return app


class BodyLimit:
    """Reject request bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        received = 0
        exceeded = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, exceeded
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                exceeded = True
                raise _BodyTooLarge
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if not exceeded:  # the app may turn _BodyTooLarge into its own error (FastAPI: 400); drop that
                await send(message)

        with suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Callable[[dict[str, Any]], Awaitable[None]], limit: int) -> None:
    body = f'{{"detail": "request body over {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def start_thread_worker(executor_kind: str = "local") -> Callable[[TrialStore], Callable[[], None]]:
    """A ``start_worker`` for :func:`create_app`: a worker thread on the app's store."""

    def start(store: TrialStore) -> Callable[[], None]:
        from api.worker import Worker
        from nas.executors import make_executor

        worker = Worker(store, make_executor(executor_kind))
        thread = threading.Thread(target=worker.run_forever, name="nas-worker", daemon=True)
        thread.start()

        def stop() -> None:
            worker.stopping.set()
            thread.join(timeout=30)
            worker.executor.shutdown()

        return stop

    return start
