"""``/admin/deliverability``: bounce and complaint rates per send over time, weekly removals
for bounces and complaints, refusals for the sender's reputation, and the alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Settings
from syndicate.service import deliverability as figures
from syndicate.service import desk
from syndicate.web.admin import charts
from syndicate.web.admin.render import AdminRenderer


def removals_desc(weeks: list[desk.Week], *, last: int = 4) -> str:
    """The removals chart's text: the whole range in sums, then the last few weeks."""
    if not weeks:
        return "No weeks yet."
    shown = weeks[-last:]
    return (
        f"{len(weeks)} weeks from {weeks[0].start} to {weeks[-1].start}: "
        f"{sum(w.bounced for w in weeks)} removed for bounces, "
        f"{sum(w.complained for w in weeks)} for complaints. The last {len(shown)} of "
        f"{len(weeks)} weeks: "
        + "; ".join(f"week of {w.start}: {w.bounced}, {w.complained}" for w in shown)
    )


def deliverability_routes(
    settings: Settings, engine: Engine, renderer: AdminRenderer, *, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """The deliverability page's route."""
    lists = list(settings.config.lists)
    per_subscriber = settings.config.analytics.per_subscriber

    def gather() -> figures.Deliverability:
        with engine.connect() as conn:
            return figures.deliverability(conn, lists, now=clock(), per_subscriber=per_subscriber)

    async def page(request: Request) -> Response:
        found = await run_in_threadpool(gather)
        rates = charts.bar_chart(
            [
                (v.send.digest_id, [(v.bounced or 0) * 100, (v.complained or 0) * 100])
                for v in found.sends
            ],
            series=["bounced %", "complaints %"],
            empty="Nothing sent yet",
            title=f"Bounce and complaint rates of the last {len(found.sends)} sends",
            desc="Per send, oldest first: readers who bounced or complained, in percent of "
            "the copies delivered.",
        )
        removals = charts.bar_chart(
            [(w.start, [w.bounced, w.complained]) for w in found.weeks],
            series=["removed: bounces", "removed: complaints"],
            title="Subscriptions ended by bounces and complaints per week (all lists)",
            desc=removals_desc(found.weeks),
            counts=True,
        )
        return renderer.page(
            request,
            "admin/deliverability.html.j2",
            found=found,
            rates_chart=rates,
            removals_chart=removals,
        )

    return [Route("/admin/deliverability", page, methods=["GET"], name="admin_deliverability")]
