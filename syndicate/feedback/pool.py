"""Parsing an import's messages on every core: in order, with bounded memory.

Parsing (the stdlib email parser, the detectors, flufl.bounce's heuristics) is most of an
import's work and needs nothing but the bytes, so large imports hand it to worker processes
while this one reads the mailbox and writes the store. Results come back in the mailbox's
order, so the importer's batches (and what a ``kill -9`` can lose) are the same as when it
parses alone: a batch is committed only once all its messages are parsed. At most
:data:`AHEAD` chunks per worker are in flight (each at most :data:`CHUNK` messages or
:data:`CHUNK_BYTES`), so memory stays flat whatever the mailbox's size. Small imports (the
first :data:`INLINE` messages of any import) are parsed here: a pool costs its start-up.
"""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection

from syndicate.feedback.parse import Parsed, parse

INLINE = 1_000  # messages parsed in this process before a pool is started
CHUNK = 50  # messages per task
CHUNK_BYTES = 4_000_000  # bytes per task (one larger message makes a task of its own)
AHEAD = 4  # tasks in flight per worker
MAX_WORKERS = 4


def workers() -> int:
    """Worker processes for a large import: the cores this process may use (at most
    :data:`MAX_WORKERS`); 0 on a single core (parsing stays in this process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if cores > 1 else 0


def parse_all(datas: list[bytes], address: str | None) -> list[Parsed]:
    """One task: parse each message (never raises, see :func:`parse`)."""
    return [parse(data, bounce_address=address) for data in datas]


def _context() -> multiprocessing.context.ForkServerContext:
    """forkserver, as everywhere in syndicate (:mod:`syndicate.parallel`): workers start
    from a clean process, never a copy of this one's threads, locks or database connections;
    the parser is imported once, in the server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["syndicate.feedback.parse"])
    return context


def _chunks(messages: Iterator[tuple[str, bytes]]) -> Iterator[tuple[list[str], list[bytes]]]:
    names: list[str] = []
    datas: list[bytes] = []
    size = 0
    try:
        for name, data in messages:
            if datas and size + len(data) > CHUNK_BYTES:
                yield names, datas
                names, datas, size = [], [], 0
            names.append(name)
            datas.append(data)
            size += len(data)
            if len(datas) >= CHUNK:
                yield names, datas
                names, datas, size = [], [], 0
    except Exception:  # the messages read before the failure first, then the failure
        if datas:
            yield names, datas
        raise
    if datas:
        yield names, datas


def parsed(
    messages: Iterable[tuple[str, bytes]], address: str | None, *, processes: int | None = None
) -> Iterator[tuple[str, Parsed]]:
    """(name, parsed) of every message, in order. ``processes``: worker processes once
    past :data:`INLINE` messages (default :func:`workers`; 0: all in this process)."""
    stream = iter(messages)
    count = workers() if processes is None else processes
    for index, (name, data) in enumerate(itertools.islice(stream, INLINE)):
        if index == INLINE // 4 and count > 0:  # a large import, likely: start the server
            _context()
            threading.Thread(target=multiprocessing.forkserver.ensure_running, daemon=True).start()
        yield name, parse(data, bounce_address=address)
    if count < 1:
        for name, data in stream:
            yield name, parse(data, bounce_address=address)
        return
    first = next(stream, None)
    if first is None:
        return
    context = _context()
    # The workers' lifeline: they hold its read end, this process the write end, so
    # end-of-file there means this process is gone (even by kill -9) and they exit too.
    lifeline, keep = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_watch, initargs=(lifeline,)
    )
    window: deque[tuple[list[str], Future[list[Parsed]]]] = deque()
    chunks = _chunks(itertools.chain([first], stream))
    try:
        while True:
            try:
                names, datas = next(chunks)
            except StopIteration:
                break
            except Exception:  # a path that is no mailbox: what was read before it first
                while window:
                    yield from _results(window.popleft())
                raise
            window.append((names, pool.submit(parse_all, datas, address)))
            if len(window) >= AHEAD * count:
                yield from _results(window.popleft())
        while window:
            yield from _results(window.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        lifeline.close()
        keep.close()


def _watch(lifeline: Connection) -> None:
    """In each worker: exit as soon as the importing process is gone. Without this a
    worker of a killed import would wait for work forever (and keep the server alive)."""

    def wait() -> None:
        try:
            lifeline.recv_bytes()  # the parent never writes: this returns only at its end
        except (EOFError, OSError):
            pass
        os._exit(70)

    threading.Thread(target=wait, daemon=True).start()


def _results(task: tuple[list[str], Future[list[Parsed]]]) -> Iterator[tuple[str, Parsed]]:
    names, future = task
    yield from zip(names, future.result(), strict=True)
