"""Background sync while a node serves: pull rounds on a timer, pushes soon after writes.

Two threads, so a slow pull never holds back a push:

* the **pull loop** pulls from every peer at start-up and then every
  ``sync_interval`` seconds;
* the **push loop** looks every ``push_delay`` seconds at the newest ``date_added``
  of the store (one indexed read) and runs a push round as soon as it moved, which
  catches writes from any process on the database (TAXII, REST, ``bayanihan
  import``), and in any case every ``sync_interval`` seconds, so retries whose
  back-off has passed and statuses still pending are followed up. A pull round that
  made a peer pushable (its first successful pull: who it hosts is known from then
  on) wakes it for a round at once, so a peer that was down at start-up gets what
  waits for it right after the pull that reaches it, not intervals later.

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


def _pulled_from(node: Node) -> set[str]:
    """Peers pulled from successfully at least once: those a push round sends to."""
    with node.store.read() as conn:
        return {p.name for p in peer_store.list_peers(conn) if p.last_success is not None}


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
        # a pull made a peer pushable: the push loop wakes (the event) and, counting the
        # signals it has handled, runs a round even if a wake-up fell between its checks
        self._push_now = threading.Event()
        self._pushable_signals = 0
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
        self._push_now.set()
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
                    before = _pulled_from(self.node)
                    results = self.federation.pull()
                    _report("pull", results)
                    self.pull_rounds += 1
                    if {r.peer for r in results if r.ok} - before:
                        self._pushable_signals += 1  # newly pushable: push right after
                        self._push_now.set()
            except Exception:
                log.exception("pull round failed")
            wait = max(0.0, interval - (time.monotonic() - started))

    def _push_loop(self) -> None:
        interval = self.node.settings.sync_interval
        delay = self.node.settings.push_delay
        seen: int | None = None
        last_round = 0.0  # monotonic time of the last push round; 0: none yet
        handled = 0  # pushable signals acted on
        while True:
            self._push_now.wait(delay)
            if self._stop.is_set():
                return
            signals = self._pushable_signals
            self._push_now.clear()
            woken, handled = signals != handled, signals
            try:
                newest = newest_write(self.node)
                due = woken or time.monotonic() - last_round >= interval
                if (newest == seen and not due) or not _has_peers(self.node):
                    continue
                last_round = time.monotonic()
                seen = newest
                _report("push", self.federation.push())
                self.push_rounds += 1
            except Exception:
                log.exception("push round failed")
