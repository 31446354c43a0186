"""Background sync while a node serves: pull rounds on a timer, pushes soon after writes.

Two threads, so a slow pull never holds back a push:

* the **pull loop** pulls from every peer at start-up and then every
  ``sync_interval`` seconds;
* the **push loop** looks every ``push_delay`` seconds at the newest ``date_added``
  of the store (one indexed read) and runs a push round as soon as it moved, which
  catches writes from any process on the database (TAXII, REST, ``bayanihan
  import``), and in any case every ``sync_interval`` seconds, so retries whose
  back-off has passed and statuses still pending are followed up.

A round's failures are the peers' own (recorded in peer health, shown by ``peer
list`` and ``GET /api/v1/peers``); the loops log them and go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select

from bayanihan.federation.peers import Federation
from bayanihan.federation.pull import PullResult
from bayanihan.federation.push import PushResult
from bayanihan.node import Node
from bayanihan.store import peers as peer_store
from bayanihan.store.schema import objects

log = logging.getLogger("bayanihan.sync")


def newest_write(node: Node) -> int | None:
    """The newest ``date_added`` of the store: it moves on every stored version."""
    with node.store.read() as conn:
        return conn.execute(select(func.max(objects.c.date_added))).scalar()


def _has_peers(node: Node) -> bool:
    with node.store.read() as conn:
        return bool(peer_store.list_peers(conn))


def _report(kind: str, results: Sequence[PullResult | PushResult]) -> None:
    for result in results:
        if result.error:
            log.warning("%s %s failed: %s", kind, result.peer, result.error)
            continue
        figures = [
            f"{k} {v}"
            for k, v in result.as_dict().items()
            if isinstance(v, int) and not isinstance(v, bool) and v
        ]
        if figures:
            log.info("%s %s: %s", kind, result.peer, ", ".join(figures))


class SyncScheduler:
    """Runs the two loops in daemon threads until ``stop()``."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.federation = Federation(node)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pull_rounds = 0
        self.push_rounds = 0

    @property
    def enabled(self) -> bool:
        return self.node.settings.sync_interval > 0

    def start(self) -> None:
        if not self.enabled or self._threads:
            return
        for name, target in (("sync-pull", self._pull_loop), ("sync-push", self._push_loop)):
            thread = threading.Thread(target=self._guarded(target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads.clear()

    def _guarded(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:  # never reached in normal operation: each round is guarded
                log.exception("background sync stopped")

        return run

    def _pull_loop(self) -> None:
        interval = self.node.settings.sync_interval
        wait = 0.0
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                if _has_peers(self.node):
                    _report("pull", self.federation.pull())
                    self.pull_rounds += 1
            except Exception:
                log.exception("pull round failed")
            wait = max(0.0, interval - (time.monotonic() - started))

    def _push_loop(self) -> None:
        interval = self.node.settings.sync_interval
        delay = self.node.settings.push_delay
        seen: int | None = None
        last_round = 0.0  # monotonic time of the last push round; 0: none yet
        while not self._stop.wait(delay):
            try:
                newest = newest_write(self.node)
                due = time.monotonic() - last_round >= interval
                if (newest == seen and not due) or not _has_peers(self.node):
                    continue
                last_round = time.monotonic()
                seen = newest
                _report("push", self.federation.push())
                self.push_rounds += 1
            except Exception:
                log.exception("push round failed")
