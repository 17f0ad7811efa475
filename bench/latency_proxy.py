"""A TCP proxy on 127.0.0.1 that delays each direction by a fixed one-way delay.

It models a link, not a slow server: every chunk is stamped when it arrives and released at
arrival + ``delay``, in order, so a burst of chunks crosses together (a per-chunk sleep would
serialise them and model a link whose bandwidth falls with latency). Round trip = 2 × delay.

    python bench/latency_proxy.py --listen 2525 --upstream 127.0.0.1:25 --delay 0.025

or from a bench: ``async with LatencyProxy(upstream_port, delay) as proxy: proxy.port``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType

_EOF = b""


async def _carry(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    seen: Callable[[float], None],
    late: list[float] | None = None,
    mark: Callable[[bool], None] | None = None,
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived
    (``late``: keep how late each went on; ``mark(True)`` when a chunk went on,
    ``mark(False)`` when one arrived)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def release() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if late is not None:  # how long after its due time the chunk went on
                late.append(loop.time() - due)
            if chunk is _EOF:
                # uvloop raises RuntimeError for a transport the other side closed already
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(chunk)
            if mark is not None:
                mark(True)
            await writer.drain()

    releaser = asyncio.create_task(release())
    try:
        while True:
            chunk = await reader.read(256 * 1024)
            now = loop.time()
            seen(now)
            if mark is not None:
                mark(False)
            queue.put_nowait((now + delay, chunk))
            if not chunk:
                break
        await releaser
    except (OSError, asyncio.IncompleteReadError):
        releaser.cancel()
    finally:
        if not releaser.done():
            releaser.cancel()
            with contextlib.suppress(BaseException):
                await releaser


class LatencyProxy:
    """Listen on 127.0.0.1 (a free port), forward to ``upstream_port`` with ``delay`` each way."""

    def __init__(self, upstream_port: int, delay: float, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.first: float | None = None  # perf_counter() of the first and last chunk seen
        self.last: float | None = None
        self.late: list[float] | None = None  # a list: each chunk's lateness is kept there
        # a list: the relay's turnaround (last chunk handed to it -> its next reply arrived)
        self.turnaround: list[float] | None = None

    def _seen(self, _loop_time: float) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now

    def reset(self) -> None:
        """Forget the first and last chunk seen (between two measured runs)."""
        self.first = self.last = None

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        # connecting takes a round trip too: SYN out, SYN-ACK back (the greeting follows)
        await asyncio.sleep(2 * self.delay)
        handed: list[float] = []  # when the last chunk went to the relay, unanswered

        def to_relay(_went: bool) -> None:
            if _went:
                handed[:] = [time.perf_counter()]

        def from_relay(went: bool) -> None:
            if not went and handed and self.turnaround is not None:
                self.turnaround.append(time.perf_counter() - handed.pop())

        up = to_relay if self.turnaround is not None else None
        down = from_relay if self.turnaround is not None else None
        try:
            await asyncio.gather(
                _carry(client_r, server_w, self.delay, self._seen, self.late, up),
                _carry(server_r, client_w, self.delay, self._seen, self.late, down),
            )
        finally:
            for w in (client_w, server_w):
                w.close()

    def _spawn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._session(r, w))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, port: int = 0) -> None:
        """Start listening (``port`` 0: a free one, then in :attr:`port`)."""
        self._server = await asyncio.start_server(self._spawn, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every session."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> LatencyProxy:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="HOST:PORT")
    parser.add_argument("--delay", type=float, required=True, help="one-way delay, seconds")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")

    async def run() -> None:
        proxy = LatencyProxy(int(port), args.delay, host or "127.0.0.1")
        await proxy.start(args.listen)
        print(f"127.0.0.1:{proxy.port} -> {args.upstream}, {args.delay * 1000:g} ms each way")
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
