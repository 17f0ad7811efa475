"""Spreading CPU-bound work over worker processes, the same way everywhere."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver, resource_tracker
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def pmap(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None,
    min_items: int,
    preload: str,
) -> Iterator[R]:
    """``map(fn, items)`` in order, in worker processes when there is enough work.

    ``workers``: None picks the CPU count once there are ``min_items`` items, else works
    in this process. ``fn`` must be a module-level function (of module ``preload``) or a
    ``functools.partial`` of one, and its arguments picklable.
    """
    if workers is None:
        workers = (os.cpu_count() or 1) if len(items) >= min_items else 1
    if workers <= 1:
        yield from map(fn, items)
        return
    # forkserver: workers never inherit the caller's threads, locks or database connections;
    # the preloaded module is imported once, in the server, not in every worker.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([preload])
    # Few large chunks: per-message overhead in this process limits the speedup, not the work.
    chunk = max(1, -(-len(items) // (workers * 4)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        yield from pool.map(fn, items, chunksize=chunk)
    finally:
        # Also when the caller stops early: queued chunks are dropped, not parsed for nothing,
        # and every worker process has exited (joined) before this returns.
        pool.shutdown(wait=True, cancel_futures=True)


def shutdown() -> None:
    """Stop the helper processes a pool leaves behind (the fork server, the resource
    tracker), waiting for each to exit: a command calls this before it exits, so nothing it
    started outlives it. A later ``pmap`` starts them again."""
    # Private API, but the only way to stop them short of interpreter exit, after which
    # they linger for a moment on their own; both methods are no-ops when not running.
    stop_server = getattr(forkserver._forkserver, "_stop", None)
    if callable(stop_server):
        stop_server()
    stop_tracker = getattr(resource_tracker._resource_tracker, "_stop", None)
    if callable(stop_tracker):
        stop_tracker()
