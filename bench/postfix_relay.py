"""A real Postfix smtpd for benches: its own config and queue folder, every message discarded.

Debian's Postfix 3.7 offers PIPELINING and CHUNKING (BDAT, RFC 3030) by default, which
``smtp-sink`` does not: ``bench/send_latency.py --sink postfix`` measures BDAT against it.
Postfix starts as root (it drops to the ``postfix`` user); the mail it accepts goes through
smtpd, cleanup and the queue manager to the ``discard`` transport, so the disk sees the
queue files (as a relay's would) and nothing leaves the machine.

    with postfix_relay() as port: ...  # smtpd on 127.0.0.1:port
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet(*args: str) -> subprocess.CompletedProcess[bytes]:
    # Postfix reports on a terminal or syslog only: `script` gives it a terminal.
    return subprocess.run(
        ["script", "-qc", " ".join(args), "/dev/null"], capture_output=True, timeout=60
    )


def _master_cf(port: int) -> str:
    """Debian's master.cf with no chroot and smtpd on ``port`` of 127.0.0.1."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[:2] == ["smtp", "inet"]:
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


@contextmanager
def postfix_relay() -> Iterator[int]:
    """Run Postfix with smtpd on a free port of 127.0.0.1; yields that port."""
    if not Path(POSTFIX).exists():
        raise SystemExit("needs Debian's postfix package")
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-postfix-"))
    root.chmod(0o755)  # Postfix's own processes run as the postfix user
    etc, data = root / "etc", root / "data"
    for folder in (etc, data, root / "queue"):
        folder.mkdir(parents=True)
    shutil.chown(data, "postfix")
    port = _free_port()
    (etc / "master.cf").write_text(_master_cf(port))
    (etc / "main.cf").write_text(
        f"""compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {data}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = relay.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
default_transport = discard
relay_transport = discard
smtp_dns_support_level = disabled
alias_maps =
local_recipient_maps =
# the wire is measured, not Postfix's back-pressure on a queue that discards at once
in_flow_delay = 0
"""
    )
    started = _quiet(POSTFIX, "-c", str(etc), "start")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit(f"Postfix did not start: {started.stdout!r}")
        # the smtpd and cleanup processes it forks inherit this: ahead of ordinary work,
        # so a shared machine's load is not what the bench measures (where allowed: root)
        master = root / "queue" / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            os.setpriority(os.PRIO_PROCESS, int(master.read_text().split()[0]), -10)
        yield port
    finally:
        _quiet(POSTFIX, "-c", str(etc), "stop")
        shutil.rmtree(root, ignore_errors=True)
