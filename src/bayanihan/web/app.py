"""The application factory: one ASGI app per node, built from a ``Node``, never at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from bayanihan.correlate.service import Correlation
from bayanihan.federation.scheduler import SyncScheduler
from bayanihan.node import Node
from bayanihan.taxii import TAXII_MEDIA_TYPE
from bayanihan.taxii.errors import error_body
from bayanihan.taxii.service import TaxiiService
from bayanihan.web.landing import landing_page
from bayanihan.web.rest import rest_app
from bayanihan.web.taxii_routes import taxii_routes


def _error(request: Request, status: int, title: str, description: str | None) -> Response:
    if request.url.path.startswith("/taxii2"):
        return Response(
            error_body(status, title, description), status_code=status, media_type=TAXII_MEDIA_TYPE
        )
    return Response(
        orjson.dumps({"error": {"code": status, "message": description or title}}),
        status_code=status,
        media_type="application/json",
    )


def create_app(node: Node) -> Starlette:
    service = TaxiiService(node)

    async def healthz(_request: Request) -> Response:
        def check() -> bool:
            try:
                node.node_record()
            except Exception:
                return False
            return True

        ok = await run_in_threadpool(check)
        return Response(
            orjson.dumps({"status": "ok" if ok else "unavailable"}),
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    async def landing(_request: Request) -> Response:
        facts = await run_in_threadpool(service.describe)
        return Response(landing_page(facts), media_type="text/html; charset=utf-8")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}
        return _error(request, exc.status_code, titles.get(exc.status_code, "Error"), exc.detail)

    async def server_error(request: Request, _exc: Exception) -> Response:
        return _error(request, 500, "Internal Server Error", "the server failed; see its log")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        node.store.checkpoint_in_background()
        checkpointer = threading.Thread(
            target=_checkpoint_loop, args=(node, stop), name="wal-checkpoint", daemon=True
        )
        checkpointer.start()
        alerts = None
        if node.correlator is not None:
            # read the warning-lists before the first request, not during the first write
            await run_in_threadpool(lambda: node.correlator and node.correlator.warnings)
            alerts = threading.Thread(
                target=_alert_loop, args=(node, stop), name="alert-delivery", daemon=True
            )
            alerts.start()
        sync = SyncScheduler(node)
        sync.start()
        try:
            yield
        finally:
            stop.set()
            sync.stop()
            checkpointer.join(timeout=5)
            if alerts is not None:
                alerts.join(timeout=15)

    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: server_error}
    routes = [
        Route("/", landing),
        Route("/healthz", healthz),
        *taxii_routes(service),
        Mount("/api/v1", app=rest_app(node)),
    ]
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


def _checkpoint_loop(node: Node, stop: threading.Event, interval: float = 0.5) -> None:
    log = logging.getLogger("bayanihan.store")
    while not stop.wait(interval):
        try:
            node.store.checkpoint()
        except Exception:  # the next round tries again; requests are unaffected
            log.exception("WAL checkpoint failed")


def _alert_loop(node: Node, stop: threading.Event) -> None:
    """Deliver due hit alerts every ``alert_interval`` seconds while the node serves."""
    log = logging.getLogger("bayanihan.alerts")
    correlation = Correlation(node)
    while not stop.wait(node.settings.alert_interval):
        try:
            counts = correlation.deliver()
        except Exception:  # the outbox keeps them; the next round tries again
            log.exception("alert delivery round failed")
            continue
        if any(counts.values()):
            log.info("alerts: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
