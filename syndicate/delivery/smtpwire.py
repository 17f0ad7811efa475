"""One mail transaction on an open aiosmtplib connection: MAIL, RCPT, DATA and the message.

Kept apart from the pool (``delivery.smtp``): this is the part that speaks the protocol,
pipelined (RFC 2920) where the server offers it, and writes DATA with byte replaces instead
of aiosmtplib's regular expressions. Where the server offers CHUNKING too (RFC 3030), the
message goes as ``BDAT <size>`` in the same write as MAIL and RCPT, then ``BDAT 0 LAST``
once their replies are read: the server takes the message only at that last chunk, so a
refused MAIL or RCPT never leaves a half-sent transaction (see :func:`chunked`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX

from syndicate.delivery.pipelining import PipeliningProtocol, PipeliningSMTP
from syndicate.models import CrlfMessage

__all__ = ["bdat_data", "chunked", "envelope", "transaction", "wire_data"]

_LINE_ENDS = re.compile(rb"\r\n|\n|\r")


def bdat_data(message: bytes) -> bytes:
    """``message`` as BDAT carries it: CRLF line ends, ending with one (no dot-stuffing and
    no terminating line: the size says where it ends). Messages that already use CRLF only
    (as syndicate's do) are taken as they are."""
    if not isinstance(message, CrlfMessage):
        crlf = message.count(b"\r\n")
        if message.count(b"\n") != crlf or message.count(b"\r") != crlf:
            message = _LINE_ENDS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message


def wire_data(message: bytes) -> bytes:
    """``message`` as the DATA command carries it: CRLF line ends, leading dots doubled, and
    the terminating ``.`` line. Messages that already use CRLF only (as syndicate's do) take
    a fast path of plain byte replaces instead of aiosmtplib's regular expressions."""
    message = bdat_data(message)
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


async def transaction(
    client: aiosmtplib.SMTP,
    sender: str,
    recipient: str,
    message: bytes,
    *,
    pipelining: bool,
    chunking: bool = False,
    before_data: Callable[[], Awaitable[None]] | None = None,
) -> aiosmtplib.SMTPResponse:
    """MAIL, RCPT and DATA for one recipient; raises aiosmtplib's errors for negative replies.

    aiosmtplib's ``sendmail`` scans the message with regular expressions three times (line
    ends twice, dot-stuffing once): about half a millisecond for 30 KB, more than everything
    else syndicate does per copy. DATA is therefore written here, through the public
    protocol object, with :func:`wire_data`'s byte replaces. With ``pipelining`` and a
    server that offers it, MAIL, RCPT and DATA go in one write (see :func:`envelope`).

    ``before_data`` is awaited after the server's 354 and before the message goes out: the
    envelope's round trip overlaps whatever it waits for (the previous answer's commit),
    and the end of data, which makes the server take the message, still waits for it.

    With ``chunking`` too and a server that offers both PIPELINING and CHUNKING, the whole
    transaction is one round trip (:func:`chunked`); ``before_data`` is then awaited before
    the ``BDAT 0 LAST`` that makes the server take the message.
    """
    if client.is_ehlo_or_helo_needed:  # the extensions decide the MAIL options
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()
    utf8 = not (sender + recipient).isascii()
    if utf8 and not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    encoding = "utf-8" if utf8 else "ascii"
    options = ["SMTPUTF8"] if utf8 else []
    if client.supports_extension("size"):  # RFC 1870: octets before dot-stuffing
        options.insert(0, f"SIZE={len(message)}")
    # MAIL and RCPT directly: aiosmtplib's mail()/rcpt() re-parse both addresses with the
    # email package (~35 µs a copy); ours are checked already (see ``smtp._ADDRESS``).
    mail = (b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *(o.encode() for o in options))
    rcpt = (b"RCPT", b"TO:<" + recipient.encode(encoding) + b">")
    piped = pipelining and isinstance(client, PipeliningSMTP) and client.pipelining
    if piped and chunking and client.supports_extension("chunking"):
        assert isinstance(client, PipeliningSMTP)
        body = bdat_data(message)
        return await chunked(client, sender, recipient, mail, rcpt, body, before_data)
    payload = wire_data(message)
    if piped:
        assert isinstance(client, PipeliningSMTP)
        await envelope(client, sender, recipient, mail, rcpt)
    else:
        reply = await client.execute_command(*mail)
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await client.execute_command(*rcpt)
        if reply.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        start = await protocol.execute_command(b"DATA", timeout=client.timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    if before_data is not None:
        await before_data()
    protocol.write(payload)
    # read_response arms the protocol for the reply before it yields to the loop.
    reply = await protocol.read_response(timeout=client.timeout)
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


async def envelope(
    client: PipeliningSMTP,
    sender: str,
    recipient: str,
    mail: tuple[bytes, ...],
    rcpt: tuple[bytes, ...],
) -> None:
    """MAIL, RCPT and DATA in one write (RFC 2920); raises exactly what the unpipelined
    commands would have raised for the same replies.

    All three replies are read whatever they say: after a refused MAIL the server answers
    RCPT and DATA too (503), and after a refused RCPT it refuses DATA (503 or 554), so the
    session is in step for the RSET that follows. A server that answers DATA with 354 even
    though MAIL or RCPT was refused now waits for a message we will not send; RFC 2920 lets
    the client send an empty one or close. Closing is the safe choice (an empty message
    could be delivered to a recipient the server accepted): the caller then records the
    refusal as it would have unpipelined and opens a new connection for the next copy.
    """
    for arg in (*mail, *rcpt):  # what aiosmtplib's execute_command refuses, refused alike
        if COMMAND_INJECTION_REGEX.search(arg):
            raise ValueError("Command arg contains a prohibited control character")
    protocol = client.protocol
    if not isinstance(protocol, PipeliningProtocol):
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    lines = (b" ".join(mail) + b"\r\n", b" ".join(rcpt) + b"\r\n", b"DATA\r\n")
    try:
        from_reply, to_reply, start = await protocol.pipeline(lines, timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()  # out of step, as aiosmtplib's execute_command decides
        raise
    refused = from_reply.code != 250 or to_reply.code not in (250, 251)
    if 421 in (from_reply.code, to_reply.code, start.code) or (refused and start.code == 354):
        client.close()  # 421: the server is closing (aiosmtplib closes too); 354: see above
    if from_reply.code != 250:
        raise aiosmtplib.SMTPSenderRefused(from_reply.code, from_reply.message, sender)
    if to_reply.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(to_reply.code, to_reply.message, recipient)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)


async def chunked(
    client: PipeliningSMTP,
    sender: str,
    recipient: str,
    mail: tuple[bytes, ...],
    rcpt: tuple[bytes, ...],
    body: bytes,
    before_last: Callable[[], Awaitable[None]] | None = None,
) -> aiosmtplib.SMTPResponse:
    """MAIL, RCPT and ``BDAT <size>`` with the message in one write, then ``BDAT 0 LAST``
    once ``before_last`` returned, without waiting for a reply in between (RFC 2920 and
    RFC 3030): one round trip. The last chunk's reply, or what the unpipelined commands
    would have raised for the same replies.

    The message is taken only at ``BDAT 0 LAST``, so what ``before_last`` waits for (the
    previous answer's commit) overlaps the round trip, as with DATA; if it raises, LAST is
    never sent and the connection is dropped by the caller: the server discards the
    transaction. The server reads every chunk whatever it answers (RFC 3030, 2: the size
    says where a chunk ends; after a refused MAIL or RCPT each BDAT is refused too, 503 or
    554), so the session stays in step for the RSET that follows. There is no 354 to wait
    for, and no server can start a message we did not mean.
    """
    for arg in (*mail, *rcpt):  # what aiosmtplib's execute_command refuses, refused alike
        if COMMAND_INJECTION_REGEX.search(arg):
            raise ValueError("Command arg contains a prohibited control character")
    protocol = client.protocol
    if not isinstance(protocol, PipeliningProtocol):
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    lines = (
        b" ".join(mail) + b"\r\n",
        b" ".join(rcpt) + b"\r\n",
        b"BDAT %d\r\n" % len(body) + body,
    )
    try:
        replies = await protocol.pipeline(
            lines, timeout=client.timeout, then=(b"BDAT 0 LAST\r\n",), meanwhile=before_last
        )
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()  # out of step, as aiosmtplib's execute_command decides
        raise
    from_reply, to_reply, chunk, last = replies
    if 421 in (r.code for r in replies):
        client.close()  # the server is closing (aiosmtplib closes too)
    if from_reply.code != 250:
        raise aiosmtplib.SMTPSenderRefused(from_reply.code, from_reply.message, sender)
    if to_reply.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(to_reply.code, to_reply.message, recipient)
    reply = chunk if chunk.code != 250 else last  # a refused chunk fails the transaction
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply
