"""A real IMAP server for tests: Debian's Dovecot, started with its own config in a temp
folder (127.0.0.1 on free ports, one passwd-file user, Maildir mail under the folder, no
system service touched), and a throwaway CA whose certificate it serves for implicit TLS."""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "s3cret-imap-pass"
needs_dovecot = pytest.mark.skipif(
    not Path(DOVECOT).exists() or os.geteuid() != 0,
    reason="needs Debian's dovecot-imapd package and root (Dovecot drops to its own users)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Dovecot:
    """A running Dovecot: its plain port, its implicit-TLS port (0: none) and the CA file."""

    port: int
    tls_port: int
    ca_file: Path | None
    root: Path

    def client(self) -> imaplib.IMAP4:
        """A logged-in plain-text client (the test's own view of the mailbox)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            for data in messages:
                typ, _ = client.append(folder, "", None, data)
                assert typ == "OK"
        finally:
            client.logout()

    def count(self, folder: str, criteria: str = "ALL") -> int | None:
        """Messages in ``folder`` matching ``criteria``; None when the folder is missing."""
        client = self.client()
        try:
            typ, _ = client.select(folder)
            if typ != "OK":
                return None
            typ, data = client.search(None, criteria)
            return len(data[0].split())
        finally:
            client.logout()


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syndicate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _config(root: Path, port: int, tls_port: int, capability: str | None) -> str:
    tls = f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"
    return f"""base_dir = {root}/run
state_dir = {root}/state
instance_name = syndicate-test-{port}
protocols = imap
listen = 127.0.0.1
log_path = {root}/log
{tls if tls_port else "ssl = no"}
{f"imap_capability = {capability}" if capability else ""}
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def dovecot(*, tls: bool = False, capability: str | None = None) -> Iterator[Dovecot]:
    """Run Dovecot until the block ends. ``capability``: what it advertises instead of its
    own list (e.g. without MOVE and UIDPLUS, to take the COPY + EXPUNGE path)."""
    # Dovecot reads mail as "nobody": pytest's tmp_path (0700) is closed to it.
    root = Path(tempfile.mkdtemp(prefix="syndicate-dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state", "mail", "home"):
        (root / name).mkdir()
    shutil.chown(root / "mail", "nobody")
    shutil.chown(root / "home", "nobody")
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    ca_file = make_ca(root)[0] if tls else None
    port, tls_port = free_port(), free_port() if tls else 0
    (root / "dovecot.conf").write_text(_config(root, port, tls_port, capability))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "log").read_text() if (root / "log").exists() else ""
                output = process.stdout.read() if process.stdout else b""
                pytest.fail(f"Dovecot did not start: {output!r} {log}")
            time.sleep(0.1)
        yield Dovecot(port=port, tls_port=tls_port, ca_file=ca_file, root=root)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout:
            process.stdout.close()
        shutil.rmtree(root, ignore_errors=True)
