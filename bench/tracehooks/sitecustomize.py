"""Timelines of a send, for ``bench/send_latency.py --trace DIR`` (never imported otherwise).

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one;
the bench puts this folder on ``PYTHONPATH`` of the ``syndicate send`` it runs, with
``SYNDICATE_TRACE=DIR``. The forkserver inherits the environment, so helper processes are
traced too. Each process that drains writes ``DIR/<pid>.json`` when its courier ends:

- every write to and every arrival from the relay, per connection (``perf_counter``, which is
  CLOCK_MONOTONIC on Linux: comparable across processes), with the first bytes written;
- every group commit (start, end, answers in it) and every wait of an end of data for the
  previous answer's commit;
- event-loop lag: a task asking for 1 ms sleeps, and how much later it woke;
- the process's CPU seconds over the drain.

``SYNDICATE_TRACE_NO_OVERLAP=1``: each copy's connection waits for its answer's commit (the
overlapped commit off). ``SYNDICATE_TRACE_PROCESSES=N`` (and ``SYNDICATE_TRACE_START=C``)
override what ``spread.plan`` decides, to compare one process with two at the same round
trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

TRACE = os.environ.get("SYNDICATE_TRACE")


def schedstat() -> list[float]:
    """Seconds this process's threads ran and waited for a core (run queue), in all."""
    ran = waited = 0.0
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/schedstat") as f:
            fields = f.read().split()
            ran, waited = ran + int(fields[0]) / 1e9, waited + int(fields[1]) / 1e9
    return [ran, waited]


def _install(folder: str) -> None:
    from syndicate.delivery import courier, pipelining, smtp, spread

    now = time.perf_counter
    events: list[tuple[str, int, float, Any]] = []
    add = events.append

    proto = pipelining.PipeliningProtocol
    write, received = proto.write, proto.data_received

    def traced_write(self: Any, data: bytes) -> None:
        add(("w", id(self), now(), [len(data), bytes(data[:4]).decode("latin-1")]))
        write(self, data)

    def traced_received(self: Any, data: bytes) -> None:
        add(("r", id(self), now(), len(data)))
        received(self, data)

    proto.write, proto.data_received = traced_write, traced_received  # type: ignore[method-assign]

    flush = courier.Courier._flush

    def traced_flush(self: Any) -> None:
        started, count = now(), len(self._pending)
        flush(self)
        add(("c", 0, started, [now() - started, count]))

    courier.Courier._flush = traced_flush  # type: ignore[method-assign]

    previous = smtp.SmtpTransport._previous_recorded

    async def traced_previous(self: Any, slot: Any) -> None:
        started = now()
        pending = slot.recorded is not None and not slot.recorded.done()
        try:
            await previous(self, slot)
        finally:
            key = id(slot.client.protocol) if slot.client is not None else 0
            add(("p", key, started, [now() - started, pending]))

    smtp.SmtpTransport._previous_recorded = traced_previous  # type: ignore[method-assign]

    drain = courier.Courier.drain

    async def lag_probe() -> None:
        while True:
            asked = now()
            await asyncio.sleep(0.001)
            add(("l", 0, asked, now() - asked - 0.001))

    profile = os.environ.get("SYNDICATE_TRACE_PROFILE")

    async def traced_drain(self: Any, *args: Any, **kwargs: Any) -> int:
        if profile:  # the drain's CPU by function (no timelines: cProfile distorts them)
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            try:
                return await drain(self, *args, **kwargs)
            finally:
                prof.disable()
                prof.dump_stats(os.path.join(folder, f"{os.getpid()}.prof"))
        probe = asyncio.create_task(lag_probe())
        cpu, started, sched = os.times(), now(), schedstat()
        try:
            return await drain(self, *args, **kwargs)
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            end, spent, after = now(), os.times(), schedstat()
            info = {
                "pid": os.getpid(),
                "start": started,
                "end": end,
                "cpu": spent.user + spent.system - cpu.user - cpu.system,
                "connections": self.connections,
                "ran": after[0] - sched[0],
                "runqueue": after[1] - sched[1],
                "events": events,
            }
            path = os.path.join(folder, f"{os.getpid()}-{int(started * 1e6)}.json")
            with open(path, "w", encoding="utf-8") as out:  # noqa: ASYNC230 (once, at the end)
                json.dump(info, out)

    courier.Courier.drain = traced_drain  # type: ignore[method-assign]

    if os.environ.get("SYNDICATE_TRACE_NO_OVERLAP"):  # each copy waits for its commit
        init = courier.Courier.__init__

        def plain_init(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self._overlapping = None

        courier.Courier.__init__ = plain_init  # type: ignore[method-assign]

    forced = os.environ.get("SYNDICATE_TRACE_PROCESSES")
    if forced:
        plan = spread.plan

        async def forced_plan(*args: Any, **kwargs: Any) -> spread.Plan:
            chosen = await plan(*args, **kwargs)
            start = int(os.environ.get("SYNDICATE_TRACE_START") or chosen.start)
            return spread.Plan(int(forced), start)

        spread.plan = forced_plan  # type: ignore[assignment]


if TRACE:
    _install(TRACE)
