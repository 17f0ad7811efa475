"""Peak memory of ``syndicate articles`` against hostile remote feeds (issue 13, item 1).

A raw socket server on 127.0.0.1 serves, each as one remote source of its own temporary
site (with one local article, so the local read is part of every run):

* ``double``: a double-gzip bomb, ``Content-Encoding: gzip, gzip``: a few KB on the wire,
  ``--double-gb`` GB (default 2) once both codings are undone;
* ``single``: a plain gzip bomb, ``--single-gb`` GB (default 1) of spaces in about a
  thousandth of that, far beyond the default ``max_bytes`` (10 MB);
* ``redirect``: a 302 whose body is ``--redirect-mb`` MB (default 400), to a small feed;
* ``plain``: the small feed alone, the baseline.

Each site's ``syndicate articles`` runs under ``/usr/bin/time -v`` (Debian's ``time``
package; without it, a Python wrapper's ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is used
and the output says so). Printed per case: the median of ``--runs`` peak RSS figures, the
median wall time, how many bytes the server got into the socket, and the problem
``articles`` reported. Target: every case under 150 MB.

To measure another checkout, run this script from that checkout's folder (the child runs
``python -m syndicate``, which imports from the current folder first):
``cd /path/to/checkout && python /path/to/remote_bomb_memory.py --cases single redirect
--no-allow-private`` (the double bomb needs gigabytes before the fix; leave it out there).

    python bench/remote_bomb_memory.py [--runs 3] [--cases double single redirect plain]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

TARGET_MB = 150
FEED = (
    b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>F</title>"
    b"<item><guid>1</guid><title>Small feed</title><description>Text.</description></item>"
    b"</channel></rss>"
)
BLOCK = b" " * 1_000_000


def gzip_of_spaces(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(BLOCK) for _ in range(megabytes)]
    return b"".join(parts) + packer.flush()


class Server:
    """Answers ``/double``, ``/single``, ``/redirect`` and ``/feed``; counts bytes sent."""

    def __init__(self, double: bytes, single: bytes, redirect_mb: int) -> None:
        self.double, self.single, self.redirect_mb = double, single, redirect_mb
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _answer(self, path: str) -> Iterator[bytes]:
        if path == "/redirect":
            size = self.redirect_mb * len(BLOCK)
            yield (
                f"HTTP/1.1 302 Found\r\nLocation: /after-redirect\r\nContent-Length: {size}\r\n\r\n"
            ).encode()
            for _ in range(self.redirect_mb):
                yield BLOCK
            return
        body, coding = {
            "/double": (self.double, "gzip, gzip"),
            "/single": (self.single, "gzip"),
        }.get(path, (FEED, ""))
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
        head += "Content-Type: application/rss+xml\r\n"
        if coding:
            head += f"Content-Encoding: {coding}\r\n"
        yield head.encode() + b"\r\n"
        yield body

    def _serve(self, conn: socket.socket) -> None:
        sent, path = 0, "?"
        with conn:
            try:
                conn.settimeout(60)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                path = head.split(b" ", 2)[1].decode()
                for piece in self._answer(path):
                    conn.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # the client hung up
            finally:
                with self.lock:
                    self.sent[path] = self.sent.get(path, 0) + sent


def make_site(root: Path, url: str, *, allow_private: bool) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "content" / "local.md").write_text(
        "---\ntitle: Local article\ndate: 2026-11-01\n---\n\nLocal text.\n", encoding="utf-8"
    )
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://news.example.org"\n\n'
        '[content]\nfolder = "content"\n\n[[content.sources]]\ntype = "feed"\n'
        f'name = "hostile"\nurl = "{url}"\n' + ("allow_private = true\n" if allow_private else ""),
        encoding="utf-8",
    )
    return root


def measure(site: Path) -> tuple[float, float, str, str]:
    """Peak RSS in MB, wall seconds, the method, and what ``articles`` said on stderr."""
    command = [sys.executable, "-m", "syndicate", "--site", str(site), "articles"]
    started = time.monotonic()
    if os.path.exists("/usr/bin/time"):
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False
        )
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        if not found:
            sys.exit(f"no peak RSS in /usr/bin/time's output:\n{done.stderr}")
        peak_kb, method = int(found[1]), "/usr/bin/time -v"
    else:
        wrapper = (
            "import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(done.stderr)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=False
        )
        peak_kb, method = int(done.stdout.split()[-1]), "getrusage(RUSAGE_CHILDREN).ru_maxrss"
    elapsed = time.monotonic() - started
    said = [line for line in done.stderr.splitlines() if line.startswith(("skipped", "error"))]
    return peak_kb / 1024, elapsed, method, " | ".join(said) or "(no problem reported)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["double", "single", "redirect", "plain"],
        choices=["double", "single", "redirect", "plain"],
    )
    parser.add_argument("--double-gb", type=int, default=2)
    parser.add_argument("--single-gb", type=int, default=1)
    parser.add_argument("--redirect-mb", type=int, default=400)
    parser.add_argument(
        "--no-allow-private",
        action="store_true",
        help="leave allow_private out of the sites (for a checkout from before it existed)",
    )
    args = parser.parse_args()

    started = time.monotonic()
    inner = gzip_of_spaces(args.double_gb * 1000) if "double" in args.cases else b""
    double = gzip.compress(inner, 9)
    single = gzip_of_spaces(args.single_gb * 1000) if "single" in args.cases else b""
    print(
        f"bombs built in {time.monotonic() - started:.1f} s: double {len(double):,} bytes "
        f"({args.double_gb} GB decoded), single {len(single):,} bytes "
        f"({args.single_gb} GB decoded), redirect body {args.redirect_mb} MB"
    )
    server = Server(double, single, args.redirect_mb)
    paths = {"double": "/double", "single": "/single", "redirect": "/redirect", "plain": "/feed"}
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="syndicate-bomb-") as tmp:
        for case in args.cases:
            peaks, walls = [], []
            said, method = "", ""
            for run in range(args.runs):
                site = make_site(
                    Path(tmp) / f"{case}-{run}",
                    f"http://127.0.0.1:{server.port}{paths[case]}",
                    allow_private=not args.no_allow_private,
                )
                peak, wall, method, said = measure(site)
                peaks.append(peak)
                walls.append(wall)
                shutil.rmtree(site)
            peak = statistics.median(peaks)
            worst = max(worst, max(peaks))
            with server.lock:
                sent = server.sent.get(paths[case], 0) / args.runs
            print(
                f"{case:9} peak RSS median {peak:6.1f} MB (max {max(peaks):.1f}; "
                f"{args.runs} runs), wall {statistics.median(walls):.2f} s, "
                f"server sent {sent:,.0f} bytes a run\n          {said}"
            )
    print(f"measured with {method}")
    verdict = "ok" if worst < TARGET_MB else "OVER"
    print(f"target: every run under {TARGET_MB} MB: {verdict} (worst {worst:.1f} MB)")


if __name__ == "__main__":
    main()
