"""Maildir delivery and DKIM signing, end to end: real files, real keys, real verification."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import importlib.util
import mailbox
import os
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest

from syndicate.delivery.dkim import SIGNED_HEADERS, DkimError, DkimKey, load_key, sign
from syndicate.delivery.maildir import MaildirTransport
from syndicate.delivery.transport import Kind

DOMAIN, SELECTOR = "news.example.org", "s2026"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _message(subject: str = "Weekly digest — issue 42", n: int = 0) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"The Editors <editors@{DOMAIN}>"
    msg["To"] = f"reader{n}@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Fri, 27 Nov 2026 09:00:00 +0000"
    msg["Message-ID"] = f"<issue42.{n}@{DOMAIN}>"
    msg["List-Unsubscribe"] = f"<https://{DOMAIN}/u/tok{n}>, <mailto:unsub@{DOMAIN}?subject=u{n}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Hello reader,\n\nThis week: déjà vu in feeds.\n" + "Line of text.\n" * 40)
    msg.add_alternative("<html><body><p>Hello reader, déjà vu</p></body></html>", subtype="html")
    return msg.as_bytes()


# ----------------------------------------------------------------------------- Maildir


def test_concurrent_delivery_gives_distinct_complete_files(tmp_path: Path) -> None:
    box = tmp_path / "Maildir"
    transport = MaildirTransport(box)
    messages = [_message(n=n) for n in range(100)]

    async def run() -> list[Kind]:
        outcomes = await asyncio.gather(
            *(transport.send(f"bounce@{DOMAIN}", f"reader{n}@example.com", m)
              for n, m in enumerate(messages))
        )  # fmt: skip
        await transport.close()
        assert all(o.code == 250 and o.reply.startswith("delivered to maildir ") for o in outcomes)
        return [o.kind for o in outcomes]

    assert asyncio.run(run()) == [Kind.SENT] * 100
    assert len(set(os.listdir(box / "new"))) == 100
    assert os.listdir(box / "tmp") == [] and os.listdir(box / "cur") == []

    expected = {
        f"reader{n}@example.com".encode(): b"Delivered-To: reader%d@example.com\r\n" % n + m
        for n, m in enumerate(messages)
    }
    seen = set()
    folder = mailbox.Maildir(box, create=False)
    for key, stored in folder.items():
        raw = folder.get_bytes(key)
        recipient = stored["Delivered-To"].encode()
        assert raw == expected[recipient]
        assert stored["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        seen.add(recipient)
    assert len(seen) == 100


def test_lf_message_keeps_its_line_endings(tmp_path: Path) -> None:
    data = b"From: a@example.org\nSubject: hi\n\nbody\n"
    outcome = asyncio.run(MaildirTransport(tmp_path).send("a@example.org", "b@example.com", data))
    assert outcome.kind is Kind.SENT
    (file,) = (tmp_path / "new").iterdir()
    assert file.read_bytes() == b"Delivered-To: b@example.com\n" + data


@pytest.mark.parametrize(
    ("sender", "recipient"),
    [("a@example.org", "b@example.com\r\nBcc: x@evil"), ("a@ex\nample.org", "b@example.com"),
     ("a@example.org", "b\0@example.com")],
)  # fmt: skip
def test_control_characters_refused_without_writing(
    tmp_path: Path, sender: str, recipient: str
) -> None:
    outcome = asyncio.run(MaildirTransport(tmp_path / "box").send(sender, recipient, _message()))
    assert outcome.kind is Kind.FAILED and outcome.code is None
    assert "CR, LF or NUL" in outcome.reply and "\n" not in outcome.reply
    assert not (tmp_path / "box").exists()


def test_unusable_folder_defers(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    (box / "tmp").write_text("a file where a folder should be")
    outcome = asyncio.run(MaildirTransport(box).send("a@example.org", "b@example.com", b"x\r\n"))
    assert outcome.kind is Kind.DEFERRED and outcome.code is None
    assert outcome.reply.startswith("maildir write failed: ")
    assert not (box / "new").exists() or not any((box / "new").iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_folder_defers(tmp_path: Path) -> None:
    box = tmp_path / "box"
    for sub in ("tmp", "new", "cur"):
        (box / sub).mkdir(parents=True)
    (box / "tmp").chmod(0o500)
    try:
        outcome = asyncio.run(MaildirTransport(box).send("a@ex.org", "b@ex.com", b"x\r\n"))
    finally:
        (box / "tmp").chmod(0o700)
    assert outcome.kind is Kind.DEFERRED and "Permission denied" in outcome.reply


# ----------------------------------------------------------------------------- DKIM


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[DkimKey, bytes]:
    """A fresh RSA 2048 key and the DNS TXT record publishing its public half."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    pem = tmp_path_factory.mktemp("keys") / "dkim.pem"
    _openssl("genrsa", "-out", str(pem), "2048")
    public = _openssl("rsa", "-in", str(pem), "-pubout", "-outform", "DER")
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    return load_key(DOMAIN, SELECTOR, pem), txt


def _verify(signed: bytes, txt: bytes) -> bool:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return bool(dkim.verify(signed, dnsfunc=dnsfunc))


def test_signed_message_verifies(rsa_key: tuple[DkimKey, bytes]) -> None:
    key, txt = rsa_key
    message = _message()
    signed = sign(message, key)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(message)
    assert _verify(signed, txt)
    header = signed[: len(signed) - len(message)].decode()
    assert "a=rsa-sha256" in header and "c=relaxed/relaxed" in header
    assert f"d={DOMAIN}" in header and f"s={SELECTOR}" in header
    h_tag = "".join(header.split("h=", 1)[1].split(";", 1)[0].split())
    signed_names = {name.lower() for name in h_tag.split(":")}
    assert {h.lower() for h in SIGNED_HEADERS} | {"mime-version", "content-type"} <= signed_names
    assert "\n" not in header.replace("\r\n", "")  # folded with CRLF only


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"Subject: Weekly digest", b"Subject: Weekly digesT"), (b"/u/tok0>", b"/u/evil>"),
     (b"Line of text.", b"Line of test."), (b"One-Click", b"one-click")],
)  # fmt: skip
def test_tampering_breaks_signature(rsa_key: tuple[DkimKey, bytes], old: bytes, new: bytes) -> None:
    key, txt = rsa_key
    signed = sign(_message(subject="Weekly digest"), key)
    assert old in signed
    assert not _verify(signed.replace(old, new, 1), txt)


def test_lf_message_signs_and_verifies(rsa_key: tuple[DkimKey, bytes]) -> None:
    key, txt = rsa_key
    lf = _message().replace(b"\r\n", b"\n")
    signed = sign(lf, key)
    assert b"\r" not in signed and _verify(signed, txt)


def test_key_repr_hides_secret(rsa_key: tuple[DkimKey, bytes]) -> None:
    assert "PRIVATE" not in repr(rsa_key[0])


def test_message_without_from_refused(rsa_key: tuple[DkimKey, bytes]) -> None:
    with pytest.raises(DkimError, match="no From header"):
        sign(b"Subject: x\r\n\r\nbody\r\n", rsa_key[0])


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(DkimError, match=r"missing\.pem: cannot read it"):
        load_key(DOMAIN, SELECTOR, tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key at all\n")
    with pytest.raises(DkimError, match="not a PEM private key; create one with `openssl genrsa"):
        load_key(DOMAIN, SELECTOR, junk)
    public = tmp_path / "public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n")
    with pytest.raises(DkimError, match="holds a 'PUBLIC KEY'"):
        load_key(DOMAIN, SELECTOR, public)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(DkimError, match=r"broken\.pem: unusable RSA key \(Unparsable"):
        load_key(DOMAIN, SELECTOR, broken)
    with pytest.raises(DkimError, match="not a valid ASCII DNS name"):
        load_key("bad domain;", SELECTOR, junk)


@needs_openssl
def test_short_rsa_key_refused(tmp_path: Path) -> None:
    pem = tmp_path / "short.pem"
    _openssl("genrsa", "-out", str(pem), "512")
    with pytest.raises(DkimError, match="RSA key has 512 bits; receivers reject keys under 1024"):
        load_key(DOMAIN, SELECTOR, pem)


@needs_openssl
def test_crlf_pkcs1_key_file_accepted(tmp_path: Path) -> None:
    pem = tmp_path / "pkcs1.pem"
    _openssl("genrsa", "-traditional", "-out", str(pem), "1024")
    pem.write_bytes(pem.read_bytes().replace(b"\n", b"\r\n"))
    assert load_key(DOMAIN, SELECTOR, pem).algorithm == "rsa-sha256"


@needs_openssl
def test_ed25519_key(tmp_path: Path) -> None:
    pem = tmp_path / "ed.pem"
    _openssl("genpkey", "-algorithm", "ed25519", "-out", str(pem))
    if importlib.util.find_spec("nacl") is None:
        with pytest.raises(DkimError, match="pynacl"):
            load_key(DOMAIN, SELECTOR, pem)
        return
    key = load_key(DOMAIN, SELECTOR, pem)
    assert key.algorithm == "ed25519-sha256"
    public = _openssl("pkey", "-in", str(pem), "-pubout", "-outform", "DER")[-32:]
    txt = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)
    assert _verify(sign(_message(), key), txt)
