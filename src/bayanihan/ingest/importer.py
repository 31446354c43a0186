"""``bayanihan import``: a whole file in one transaction, so bad input changes nothing.

Objects that are valid JSON but not valid STIX are rejected one by one (with
reasons) while the rest are stored; a file that is not JSON, or breaks off in
the middle, rolls the whole import back.

A file is imported by two processes: one reads, validates and serialises the
objects, the other writes them, so both cores of a small server are busy and
the writer never waits on JSON decoding.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from bayanihan.ingest.intake import (
    IntakeOptions,
    Outcome,
    prepare_batch,
    store_prepared,
)
from bayanihan.ingest.stix_file import StixFileError, iter_stix
from bayanihan.node import Node, NodeError
from bayanihan.policy.principal import Principal
from bayanihan.policy.tlp import Tlp
from bayanihan.store.objects import NewVersion

KEPT_REASONS = 50
BATCH = 2000
_QUEUE_DEPTH = 4  # prepared batches in flight: bounds the memory of the pipeline

Prepared = list[NewVersion | Outcome]


@dataclass(slots=True)
class ImportSummary:
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.stored + self.duplicate + self.rejected

    first_added: int = 0
    last_added: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "stored":
            self.stored += 1
            if outcome.date_added:
                self.first_added = self.first_added or outcome.date_added
                self.last_added = outcome.date_added
        elif outcome.status == "duplicate":
            self.duplicate += 1
        else:
            self.rejected += 1
            if len(self.reasons) < KEPT_REASONS:
                self.reasons.append(outcome)


def _options(node: Node, principal: Principal, force_tlp: Tlp | None) -> IntakeOptions:
    org = next((o for o in node.orgs() if o.row_id == principal.org_row), None)
    if org is None or not org.local:
        raise NodeError(
            f"{principal.org_name!r} is hosted on another node: import only for orgs hosted here"
        )
    return node.intake_options(principal, force_tlp=force_tlp)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    # Decoded STIX objects hold no reference cycles; the cycle collector would only
    # rescan the batches in flight again and again (about 13% of an import's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _store_all(
    node: Node, principal: Principal, batches: Iterable[Prepared], *, source: str
) -> ImportSummary:
    summary = ImportSummary()
    with node.store.bulk_write() as conn:
        for prepared in batches:
            stored = store_prepared(conn, prepared, now=node.clock(), correlator=node.correlator)
            for outcome in stored:
                summary.add(outcome)
        # One entry for the whole import: it names the objects by their date_added
        # range (a million ids would not make a readable entry).
        node.audit(
            conn,
            principal,
            "import",
            detail=f"{source}: {summary.stored} stored, {summary.duplicate} duplicate, "
            f"{summary.rejected} rejected; date_added {summary.first_added}..{summary.last_added}",
        )
    return summary


def import_objects(
    node: Node,
    principal: Principal,
    objects: Iterable[object],
    *,
    force_tlp: Tlp | None = None,
) -> ImportSummary:
    """Store ``objects`` as ``principal``'s organisation, in one write transaction."""
    options = _options(node, principal, force_tlp)
    iterator = iter(objects)

    def batches() -> Iterator[Prepared]:
        while chunk := list(islice(iterator, BATCH)):
            yield prepare_batch(chunk, options)

    with _no_cycle_collection():
        return _store_all(node, principal, batches(), source="objects")


def import_file(
    node: Node,
    principal: Principal,
    path: Path,
    *,
    force_tlp: Tlp | None = None,
    progress: Callable[[int], None] | None = None,
    parallel: bool = True,
) -> ImportSummary:
    """Import a STIX file; raises StixFileError (and stores nothing) when it is not STIX JSON.

    ``progress`` is called with the number of bytes read so far.
    """
    options = _options(node, principal, force_tlp)
    with _no_cycle_collection():
        batches = (
            _parallel_batches(path, options, progress)
            if parallel
            else _read_batches(path, options, progress)
        )
        return _store_all(node, principal, batches, source=f"file {path.name}")


def _read_batches(
    path: Path, options: IntakeOptions, progress: Callable[[int], None] | None
) -> Iterator[Prepared]:
    with path.open("rb") as stream:
        objects = iter_stix(stream)
        while chunk := list(islice(objects, BATCH)):
            yield prepare_batch(chunk, options)
            if progress is not None:
                progress(stream.tell())


def _reader(path: str, options: IntakeOptions, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The reading process: decode, validate and serialise; hand batches to the writer.

    It stops by itself when the writer goes away (killed, or crashed), rather
    than waiting forever for room in the queue.
    """
    gc.disable()
    writer = os.getppid()

    def send(item: tuple[str, object, int]) -> None:
        while True:
            try:
                out.put(item, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != writer:
                    os._exit(1)

    try:
        with open(path, "rb") as stream:
            objects = iter_stix(stream)
            while chunk := list(islice(objects, BATCH)):
                send(("batch", prepare_batch(chunk, options), stream.tell()))
        send(("done", None, 0))
    except StixFileError as exc:
        send(("error", str(exc), 0))
    except BaseException as exc:  # reported to the writer, which stops and rolls back
        send(("crash", f"{type(exc).__name__}: {exc}", 0))


def _parallel_batches(
    path: Path, options: IntakeOptions, progress: Callable[[int], None] | None
) -> Iterator[Prepared]:
    # fork starts the reader at once, with the modules already imported
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)
    channel = context.Queue(maxsize=_QUEUE_DEPTH)
    reader = context.Process(target=_reader, args=(str(path), options, channel), daemon=True)
    reader.start()
    try:
        while True:
            try:
                kind, payload, position = channel.get(timeout=1.0)
            except queue.Empty:
                if not reader.is_alive():
                    raise RuntimeError("the reading process died") from None
                continue
            if kind == "batch":
                yield payload
                if progress is not None:
                    progress(position)
            elif kind == "done":
                return
            elif kind == "error":
                raise StixFileError(payload)
            else:
                raise RuntimeError(f"the reading process failed: {payload}")
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        channel.close()
