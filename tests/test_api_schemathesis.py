"""Schemathesis runs the API's own OpenAPI document (fetched from the running app) against a
real uvicorn on SQLite and PostgreSQL: valid and invalid inputs for every operation; no 500,
every answer (status, headers, body) as the document says. Deterministic in CI: Hypothesis'
"ci" profile (tests/conftest.py) derandomizes, so every run tries the same examples."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from sqlalchemy import text

from syndicate.models import Status
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from syndicate.web.ratelimit import RateLimiter
from tests.apiserver import live
from tests.conftest import Site
from tests.test_api import ALL_SCOPES, make_token
from tests.test_web import SECRET, WEB_CONFIG, Clock, add, carry_out

EXAMPLES = 25  # per operation and mode: ~450 requests in all
# Every check is on. Valid-looking input may still be refused with 422 where the document
# cannot say more than JSON Schema can (a list must be declared; email-validator's rules).
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "422", "429"]
            }
        }
    }
)


@dataclass
class Live:
    base: str
    token: str


@pytest.fixture
def running(any_site: Site) -> Iterator[Live]:
    any_site.configure(WEB_CONFIG)
    token = make_token(any_site, "fuzz", ALL_SCOPES)
    add(any_site, "ann@example.org", {"weekly": Status.ACTIVE})
    add(any_site, "bob@example.org", {"weekly": Status.BOUNCED, "daily": Status.PENDING})
    with any_site.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sends (list_name, digest_id, status, created_at)"
                " VALUES ('weekly', 'weekly-1', 'done', '2026-11-27 09:00:00')"
            )
        )
    clock = Clock()
    app = create_app(
        any_site.settings,
        any_site.engine,
        signer=Signer(SECRET),
        clock=clock,
        on_outbox=carry_out(any_site, clock),
        api_limiter=RateLimiter(capacity=100_000, period=1),
    )
    with live(app) as base:
        yield Live(base, token)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_matches_the_document(running: Live, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(running.base + "/api/v1/openapi.json", config=CONFIG)
    auth = {"Authorization": f"Bearer {running.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            # A query parameter whose value is an empty list is not sent at all (`{"": []}`):
            # the server sees a valid request, which schemathesis would count as accepted
            # negative data.
            assume(not any(v == [] for v in (case.query or {}).values()))
            case.call_and_validate(base_url=running.base, headers=auth)

        check()
