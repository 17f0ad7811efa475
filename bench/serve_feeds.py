"""Benchmark feed serving: ``syndicate run`` against nginx on the same feeds folder.

Feed readers poll, so what a feed server mostly does is answer revalidations of unchanged
files, and sometimes send the whole (gzipped) feed. This writes a site of generated
articles (default 100 of 400 words, drawn from the sample article's vocabulary so they
compress like prose) into a temp folder, runs ``syndicate build`` (``atom.xml``, the newest
20 with full content: ~85 KB, ~21 KB gzipped), then starts ``syndicate run`` and nginx on
free ports of 127.0.0.1 serving the SAME ``feeds/`` folder, and loads ``/feeds/atom.xml``
with wrk (``wrk -t1 -c32 -dDURATION``, always with ``Accept-Encoding: gzip``):

* syndicate 304 and nginx 304: ``If-None-Match: <that server's ETag>``
* syndicate 200 and nginx 200: the whole feed, gzipped
* nginx+gzip_static 200: the same from an ``atom.xml.gz`` written beside the feed
  beforehand (nginx otherwise gzips every response anew; syndicate keeps the gzipped body
  in memory, so this is the like-for-like case)

Each ETag is taken from one request to that server first (they differ: syndicate hashes
the bytes, nginx uses mtime and size, weak when it gzips). Before the loads, one httpx
request per case with its headers must answer the expected status (and Content-Encoding: gzip
for 200); afterwards wrk's own counts (a Lua ``done()`` only, so wrk parses nothing per
response) must show no socket error, no status >= 400, and as many bytes per response as
that status takes (304: headers only; 200: the gzipped body plus headers). Printed:
requests/s (median over ``--runs``; the runs go round the five cases, so a busy neighbour
on a shared machine slows each case alike), latency p50/p99, the ratios syndicate/nginx,
and the load average before and after.

nginx: ``worker_processes 1`` (``syndicate run`` is one process, and wrk needs the other
core of a 2-core machine), ``access_log off``, sendfile, gzip on at level 6 (syndicate's
level) for the three feed types, default ETags. Its config, pid, lock, logs and temp paths
live in the temp folder (``-p``/``-e``/``-c``), so it runs as root without touching
/etc/nginx; it runs in the foreground (``daemon off``) and is stopped with SIGTERM.

Needs: ``apt-get install nginx wrk``.

    python bench/serve_feeds.py [--duration 10] [--runs 1] [--articles 100] [--words 400]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "content" / "kazakhstan-mediator.txt"
FEED = "/feeds/atom.xml"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START = re.compile(r"listening on http://127\.0\.0\.1:(\d+); ")
SECRET = "bench-secret-0123456789abcdef"
MAX_304_BYTES = 1024  # a 304 is a status line and a few headers
MAX_200_OVERHEAD = 2048  # headers (and chunk framing) beyond the gzipped body

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
lock_file {tmp}/nginx.lock;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{
        application/json json;
        text/html html;
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types application/atom+xml application/rss+xml application/feed+json;
    gzip on;
    gzip_comp_level 6;
    gzip_min_length 256;
    gzip_vary on;
    gzip_types application/atom+xml application/rss+xml application/feed+json;
    etag on;
{servers}}}
"""

# nginx_static: the same, but the gzipped feed comes from atom.xml.gz beside it (gzip_static).
NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        root {site};
        gzip_static {gzip_static};
        location / {{ return 404; }}
        location /feeds/ {{
            add_header Cache-Control "public, max-age=300";
            location ~ /atom\\.xml$ {{ types {{ }} default_type application/atom+xml; }}
            location ~ /rss\\.xml$ {{ types {{ }} default_type application/rss+xml; }}
            location ~ /feed\\.json$ {{ types {{ }} default_type application/feed+json; }}
        }}
    }}
"""

# Only done(): a response() hook would make wrk parse every response in Lua.
WRK_LUA = """\
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests": %d, "bytes": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "status": %d, "p50": %d, "p99": %d}\\n',
    summary.requests, summary.bytes, summary.duration, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class Server:
    """One server under test: its name, base URL and the ETag of the gzipped feed."""

    name: str
    url: str
    etag: str
    gzipped_size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk run: requests per second and what came back."""

    rps: float
    requests: int
    bytes: int
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts on ``port``; exit if ``proc`` died first."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after 15 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (nginx: fast shutdown; syndicate: clean stop), then SIGKILL after 40 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def write_site(root: Path, articles: int, words: int, seed: int = 7) -> None:
    """A site of ``articles`` Markdown articles of ``words`` words each, a day apart.

    The words are drawn at random from the sample article's vocabulary, so the feed
    compresses about as well as prose does (~3.5x), not like a text of twenty words.
    """
    vocabulary = sorted(set(re.findall(r"[A-Za-z’'-]{2,}", SAMPLE.read_text("utf-8"))))
    rng = random.Random(seed)
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        f'[database]\nurl = "sqlite:///{root / "state.db"}"\n',
        encoding="utf-8",
    )
    content = root / "content"
    content.mkdir()
    for i in range(articles):
        paragraphs, left = [], words
        while left > 0:
            n = min(left, rng.randint(40, 110))
            text = " ".join(rng.choice(vocabulary) for _ in range(n))
            paragraphs.append(text.capitalize() + ".")
            left -= n
        tags = ", ".join(rng.sample(vocabulary, 2)).lower()
        title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(4, 9))).capitalize()
        (content / f"article-{i}.md").write_text(
            f"---\ntitle: {title}\ndate: 2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}T08:{i % 60:02d}:00Z"
            f"\nauthor: Author {i % 7}\ntags: [{tags}]\n---\n\n" + "\n\n".join(paragraphs) + "\n",
            encoding="utf-8",
        )


def build_site(root: Path, articles: int, words: int) -> None:
    """A generated site in ``root`` with its feeds built by ``syndicate build``."""
    write_site(root, articles, words)
    built = subprocess.run(
        [sys.executable, "-m", "syndicate", "--site", str(root), "build", "--offline"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    if built.returncode != 0:
        raise SystemExit(f"syndicate build failed:\n{built.stdout}{built.stderr}")


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": path}


@contextmanager
def run_syndicate(root: Path, tmp: Path) -> Iterator[str]:
    """``syndicate run --port 0`` on the site; its base URL."""
    log = tmp / "syndicate.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "--site", str(root), "run", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=_env(),
        )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            line = proc.stdout.readline().decode() if sel.select(30) else ""
        found = START.search(line)
        if not found:
            raise SystemExit(f"syndicate run did not start ({line!r}):\n{log.read_text()}")
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        stop(proc)


@contextmanager
def run_nginx(root: Path, tmp: Path) -> Iterator[tuple[str, str]]:
    """nginx (config, pid and logs in ``tmp``) serving ``root``/feeds on two ports: gzip
    per request, and gzip_static; their base URLs."""
    folder = tmp / "nginx"
    folder.mkdir()
    port, static_port = free_port(), free_port()
    servers = "".join(
        NGINX_SERVER.format(port=p, site=root, gzip_static=g)
        for p, g in ((port, "off"), (static_port, "on"))
    )
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=folder, servers=servers), encoding="utf-8")
    log = folder / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for_port(port, proc, log)
        wait_for_port(static_port, proc, log)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{static_port}"
    finally:
        stop(proc)


def probe(name: str, url: str) -> Server:
    """One plain request and one gzip request: ETag and sizes; checks both answer 200."""
    with httpx.Client(timeout=10) as client:
        plain = client.get(url + FEED, headers={"Accept-Encoding": "identity"})
        gz = client.get(url + FEED, headers={"Accept-Encoding": "gzip"})
    for response in (plain, gz):
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {FEED} answered {response.status_code}")
    if gz.headers.get("content-encoding") != "gzip" or gz.content != plain.content:
        raise SystemExit(f"{name}: no gzip, or another body: {dict(gz.headers)}")
    etag = gz.headers.get("etag")
    if not etag:
        raise SystemExit(f"{name}: no ETag in {dict(gz.headers)}")
    return Server(
        name=name,
        url=url,
        etag=etag,
        gzipped_size=gz.num_bytes_downloaded,
        content_type=gz.headers.get("content-type", ""),
    )


def check(server: Server, headers: dict[str, str], status: int) -> None:
    """One request with exactly the benchmark's headers must answer ``status`` (gzip if 200)."""
    response = httpx.get(server.url + FEED, headers=headers, timeout=10)
    if response.status_code != status:
        raise SystemExit(f"{server.name}: expected {status}, got {response.status_code}")
    if status == 200 and response.headers.get("content-encoding") != "gzip":
        raise SystemExit(f"{server.name}: 200 without Content-Encoding: gzip")
    if status == 304 and response.content:
        raise SystemExit(f"{server.name}: a 304 with a body")


def wrk(
    server: Server, headers: dict[str, str], *, seconds: float, connections: int, script: Path
) -> Load:
    """``wrk -t1 -cN -dS`` with ``headers``; the figures of its ``done()``."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    ran = subprocess.run([*args, server.url + FEED], capture_output=True, text=True, check=False)
    found = re.search(r"^WRK (\{.*\})$", ran.stdout, re.MULTILINE)
    if ran.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({ran.returncode}):\n{ran.stdout}{ran.stderr}")
    got = json.loads(found[1])
    errors = {k: got[k] for k in ("connect", "read", "write", "timeout", "status") if got[k]}
    if errors or not got["requests"]:
        raise SystemExit(f"{server.name}: wrk saw errors {errors}:\n{ran.stdout}")
    return Load(
        rps=got["requests"] / (got["duration_us"] / 1e6),
        requests=got["requests"],
        bytes=got["bytes"],
        p50_ms=got["p50"] / 1000,
        p99_ms=got["p99"] / 1000,
    )


def headers_for(server: Server, status: int) -> dict[str, str]:
    """The request headers of a case: gzip accepted; a 304 case also sends the ETag."""
    headers = {"Accept-Encoding": "gzip"}
    if status == 304:
        headers["If-None-Match"] = server.etag
    return headers


def measure(server: Server, status: int, *, seconds: float, connections: int, script: Path) -> Load:
    """One wrk run of one case, checked to have answered ``status`` every time."""
    load = wrk(
        server, headers_for(server, status), seconds=seconds, connections=connections, script=script
    )
    per = load.bytes / load.requests
    if status == 304:
        ok = per <= MAX_304_BYTES
    else:
        ok = server.gzipped_size <= per <= server.gzipped_size + MAX_200_OVERHEAD
    if not ok:
        raise SystemExit(
            f"{server.name} {status}: {per:.0f} bytes per response does not fit a {status}"
            f" (gzipped body {server.gzipped_size} bytes)"
        )
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=1, help="wrk runs per case (median)")
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--words", type=int, default=400, help="words per article")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", NGINX):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install nginx wrk")

    tmp = Path(tempfile.mkdtemp(prefix="syndicate-serve-"))
    try:
        tmp.chmod(0o755)  # nginx's worker runs as nobody and must read the feeds
        root = tmp / "site"
        root.mkdir()
        build_site(root, args.articles, args.words)
        feed = root / FEED.removeprefix("/")
        size = feed.stat().st_size
        # For nginx's gzip_static: the feed gzipped beforehand, as syndicate keeps it.
        packed = feed.with_name(feed.name + ".gz")
        packed.write_bytes(gzip.compress(feed.read_bytes(), compresslevel=6, mtime=0))
        os.utime(packed, ns=(feed.stat().st_atime_ns, feed.stat().st_mtime_ns))
        load_before = os.getloadavg()[0]
        script = tmp / "done.lua"
        script.write_text(WRK_LUA, encoding="utf-8")
        with run_syndicate(root, tmp) as ours, run_nginx(root, tmp) as (theirs, static):
            mine, nginx = probe("syndicate", ours), probe("nginx", theirs)
            nginx_static = probe("nginx+gzip_static", static)
            print(
                f"{FEED}: {size:,} bytes, gzipped {mine.gzipped_size:,} by syndicate, "
                f"{nginx.gzipped_size:,} by nginx; {args.articles} articles of {args.words} words"
            )
            for server in (mine, nginx):
                print(f"  {server.name}: ETag {server.etag}, Content-Type {server.content_type}")
            print(
                f"wrk -t1 -c{args.connections} -d{args.duration:g}s -H 'Accept-Encoding: gzip' "
                f"(304: also -H 'If-None-Match: <ETag>'); nginx worker_processes 1; "
                f"median of {args.runs} run(s); {os.cpu_count()} cores; uvicorn parses HTTP "
                f"with {'httptools' if importlib.util.find_spec('httptools') else 'h11'}"
            )
            cases = [(mine, 304), (nginx, 304), (mine, 200), (nginx, 200), (nginx_static, 200)]
            for server, status in cases:
                check(server, headers_for(server, status), status)
            # Runs go round the cases, so a noisy neighbour hurts every case alike.
            loads: dict[tuple[str, int], list[Load]] = {(s.name, st): [] for s, st in cases}
            for _ in range(args.runs):
                for server, status in cases:
                    load = measure(
                        server,
                        status,
                        seconds=args.duration,
                        connections=args.connections,
                        script=script,
                    )
                    loads[server.name, status].append(load)
            results: dict[tuple[str, int], Load] = {}
            for server, status in cases:
                runs = sorted(loads[server.name, status], key=lambda x: x.rps)
                load = results[server.name, status] = runs[len(runs) // 2]
                spread = ", ".join(f"{x.rps:,.0f}" for x in runs)
                print(
                    f"  {server.name:<17} {status}: {load.rps:>8,.0f} requests/s "
                    f"(p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms; "
                    f"{load.bytes / load.requests:,.0f} bytes each; runs {spread})",
                    flush=True,
                )
            for other, status in ((nginx, 304), (nginx, 200), (nginx_static, 200)):
                ratio = results[mine.name, status].rps / results[other.name, status].rps
                print(f"syndicate/{other.name} {status}: {ratio:.2f}")
            print(f"load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
