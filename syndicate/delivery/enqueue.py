"""The ledger rows of a send: one per active subscriber whose digest version is not empty.

Readers whose version is empty get no row; a digest send keeps how many they were
(``sends.topic_skipped``) in the transaction that writes its last rows, so the desk, ``report``
and the API can say what ``send`` printed ("1 subscriber skipped: nothing new for their
topics") long after."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.delivery.copies import variant_key
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.plan import skips
from syndicate.digest.prepare import Prepared
from syndicate.events import send_started
from syndicate.models import Status
from syndicate.store import deliveries as ledger
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.digests import POST
from syndicate.store.sends import SendStatus

ENQUEUE_BATCH = 5000  # ledger rows per transaction while preparing a send


def enqueue_send(
    engine: Engine,
    settings: Settings,
    prepared: Prepared,
    list_name: str,
    send_id: int,
    *,
    now: datetime,
) -> None:
    """One ledger row per active subscriber whose version is not empty, streamed from the
    store in batches (idempotent: an interrupted preparation simply runs again); then the
    send moves to SENDING (a digest's readers passed over kept with it)."""
    send_empty = settings.mailing_list(list_name).send_empty
    everyone = not skips(prepared, EVERYTHING, send_empty=send_empty)
    if everyone:
        with engine.begin() as conn:  # everyone without topics, in one statement
            ledger.enqueue_without_topics(conn, send_id, list_name, now=now)
    variants: dict[str, str | None] = {}  # stored topics -> variant key; few distinct sets
    batch: list[tuple[int, str]] = []
    passed_over = 0
    with engine.connect() as reader:
        # Readers without topics go through the loop only when they get nothing: counted.
        without = ledger.NO_TOPICS if everyone else None
        chose = subscriber_repo.iter_topics(reader, list_name, Status.ACTIVE, skip=without)
        for sid, topics in chose:
            if topics not in variants:
                chosen = frozenset(t.casefold() for t in json.loads(topics))
                empty = skips(prepared, chosen, send_empty=send_empty)
                variants[topics] = None if empty else variant_key(chosen)
            variant = variants[topics]
            if variant is None:  # nothing new for their topics: no mail
                passed_over += 1
                continue
            batch.append((sid, variant))
            if len(batch) >= ENQUEUE_BATCH:
                with engine.begin() as conn:
                    ledger.enqueue(conn, send_id, batch, now=now)
                batch = []
    with engine.begin() as conn:
        ledger.enqueue(conn, send_id, batch, now=now)
        if prepared.digests[EVERYTHING].kind != POST:  # a post's skips: not their topics
            send_repo.keep_topic_skipped(conn, send_id, passed_over)
        send_repo.set_send_status(conn, send_id, SendStatus.SENDING, now=now)
        send_started(conn, settings.config.webhooks, send_id, now=now)
