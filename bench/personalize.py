"""Benchmark digest personalization: one ~60 KB rendered digest, 100,000 recipients.

Target: ``Personalizer.fill`` <= 50 µs per recipient. Also reports, for the record, what the
complete message costs: ``fill`` + ``build_message(...).as_bytes()`` per recipient.

    python bench/personalize.py [--recipients 100000] [--runs 3]

The HTML is generated like a rendered MJML digest: nested tables with inline styles, a dozen
articles, the markers in the greeting, the footer and two links. Figures are medians of the
runs; the Personalizer is built once per run (it is built once per digest version).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syndicate.config import Settings, load_settings
from syndicate.digest import markers
from syndicate.digest.message import build_message, mail_host, message_id
from syndicate.digest.personalize import Personalizer, Recipient
from syndicate.digest.wire import WireTemplate
from syndicate.models import Digest, RenderedDigest
from syndicate.subscribers.tokens import Signer

TARGET_FILL_US = 50.0
NAMES = "Ada Grace Alan Edsger Barbara Donald Frances Ken Radia Tim Zoë Margaret Linus".split()
WORDS = (
    "trade security energy diplomacy logistics technology shipping markets port rail grid "
    "policy summit talks tariff supply chain outlook analysis week report the of and to in "
    "a on for with as by from that this new more über café naïve — “quoted”"
).split()
CELL = (
    '<tr><td align="left" style="font-size:0px;padding:10px 25px;word-break:break-word;">'
    '<div style="font-family:Georgia,serif;font-size:16px;line-height:1.5;text-align:left;'
    'color:#222222;">{}</div></td></tr>\n'
)
CONFIG = """\
[publication]
title = "Bench Letter"
base_url = "https://news.example.org"
[email]
from_name = "Bench Letter"
from_address = "news@example.org"
reply_to = "editor@example.org"
unsubscribe_mailto = "unsubscribe@example.org"
[lists.weekly]
title = "The Weekly"
"""


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def rendered_digest(size: int = 60_000, seed: int = 5) -> RenderedDigest:
    """A RenderedDigest whose HTML is realistic filler of about ``size`` characters."""
    rng = random.Random(seed)
    head = (
        '<!doctype html><html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8">'
        "<style>#outlook a{padding:0;}body{margin:0;padding:0;}table,td{border-collapse:"
        'collapse;}</style></head><body style="word-spacing:normal;background-color:#f4f4f4;">'
        '<div style="display:none;max-height:0;overflow:hidden;">This week in trade</div>\n'
        '<table align="center" border="0" cellpadding="0" cellspacing="0" role="presentation" '
        'style="width:100%;max-width:600px;"><tbody>\n'
    )
    cells = [CELL.format(f"Hello {markers.NAME},")]
    text = [f"Hello {markers.NAME},\n"]
    article = 0
    while len(head) + sum(map(len, cells)) < size - 1500:
        article += 1
        url = f"https://news.example.org/articles/{article}-{rng.choice(WORDS)}/"
        title = _sentence(rng, 8)
        teaser = " ".join(_sentence(rng, rng.randint(12, 30)) for _ in range(6))
        cells.append(CELL.format(f'<h2><a href="{url}" style="color:#0b5394;">{title}</a></h2>'))
        cells.append(CELL.format(f"<p>{teaser}</p>"))
        text.append(f"{title}\n{url}\n\n{teaser}\n")
    cells.append(
        CELL.format(
            f'<p>Sent to {markers.EMAIL}. <a href="{markers.PREFERENCES_URL}">Preferences</a> · '
            f'<a href="{markers.UNSUBSCRIBE_URL}">Unsubscribe</a></p>'
        )
    )
    text.append(
        f"Sent to {markers.EMAIL}.\nPreferences: {markers.PREFERENCES_URL}\n"
        f"Unsubscribe: {markers.UNSUBSCRIBE_URL}\n"
    )
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    digest = Digest(
        id="weekly-12",
        list_name="weekly",
        list_title="The Weekly",
        issue=12,
        created=now,
        lead=(),
        rest=(),
        also=(),
        more=0,
        more_url="https://news.example.org/",
        archive_url="https://news.example.org/archive/weekly/12.html",
    )
    return RenderedDigest(
        digest=digest,
        subject="The Weekly: trade, energy and 11 more",
        preheader="This week in trade",
        html=head + "".join(cells) + "</tbody></table></body></html>\n",
        text="\n".join(text),
    )


def recipients(count: int, seed: int = 7) -> list[Recipient]:
    rng = random.Random(seed)
    return [
        Recipient(
            subscriber_id=i,
            email=f"reader{i}@example{i % 997}.org",
            name=None if i % 5 == 0 else f"{rng.choice(NAMES)} {rng.choice(NAMES)}son",
        )
        for i in range(1, count + 1)
    ]


def run_once(
    r: RenderedDigest, people: list[Recipient], settings: Settings, *, messages: bool
) -> float:
    """Seconds for every recipient: fill alone, or the whole message's bytes."""
    now = datetime.now(UTC)
    signer = Signer("x" * 32)
    host = mail_host(settings)
    started = time.perf_counter()
    filler = Personalizer(r, list_name="weekly", web_url=settings.web_url, signer=signer, now=now)
    if not messages:
        for who in people:
            filler.fill(who)
    else:
        wire = WireTemplate(r, filler, settings=settings, list_name="weekly", date=now)
        for who in people:
            wire.message(who, message_id(r.digest, who.subscriber_id, host))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--messages",
        type=int,
        default=20_000,
        help="recipients for the whole-message figure",
    )
    args = parser.parse_args()
    r = rendered_digest()
    people = recipients(args.recipients)
    sample = Personalizer(
        r,
        list_name="weekly",
        web_url="https://news.example.org",
        signer=Signer("x" * 32),
        now=datetime.now(UTC),
    ).fill(people[0])
    print(
        f"digest: HTML {len(r.html.encode()):,} bytes, text {len(r.text.encode()):,} bytes; "
        f"{args.recipients:,} recipients, {args.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="syndicate-bench-") as tmp:
        (Path(tmp) / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
        settings = load_settings(tmp)
        size = len(
            build_message(
                r,
                sample,
                people[0],
                settings=settings,
                list_name="weekly",
                message_id="<weekly-12.1@news.example.org>",
                date=datetime.now(UTC),
            ).as_bytes()
        )
        print(f"one message: {size:,} bytes")
        for label, messages in (("fill", False), ("whole message bytes (WireTemplate)", True)):
            group = people[: args.messages] if messages else people
            runs = [run_once(r, group, settings, messages=messages) for _ in range(args.runs)]
            each = statistics.median(runs) / len(group) * 1e6
            target = f" (target <= {TARGET_FILL_US:.0f} µs)" if not messages else ""
            print(
                f"{label}: {each:,.1f} µs per recipient{target}; "
                f"runs {', '.join(f'{t:.2f} s' for t in runs)}"
            )


if __name__ == "__main__":
    main()
