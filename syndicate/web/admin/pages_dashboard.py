"""``/admin/``: the dashboard. Per list, its active readers over 90 days and its weekly
changes (SVG charts), the last sends with their rates, and the sends in progress; while one
runs the page refreshes itself every few seconds (a ``Refresh`` header, no script), and
stops once none does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Settings
from syndicate.service import desk
from syndicate.store import queued as queued_repo
from syndicate.store.queued import QueuedRow
from syndicate.web.admin import charts
from syndicate.web.admin import format as formats
from syndicate.web.admin.approvals import approval_line
from syndicate.web.admin.render import AdminRenderer

REFRESH_SECONDS = 10  # while a send runs


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPanel:
    """One list's panel: its figures and its two charts (``empty``: nobody ever subscribed
    in the window, so the page says how to add subscribers instead of two flat charts)."""

    view: desk.ListView
    active_chart: str
    weekly_chart: str
    empty: bool


def weekly_desc(weeks: list[desk.Week], *, last: int = 4) -> str:
    """The weekly chart's text: the whole range in sums, then the last few weeks."""
    if not weeks:
        return "No weeks yet."
    whole = (
        f"{len(weeks)} weeks from {weeks[0].start} to {weeks[-1].start}: "
        f"+{sum(w.subscribed for w in weeks)}, -{sum(w.unsubscribed for w in weeks)}, "
        f"{sum(w.bounced for w in weeks)} bounced in all."
    )
    shown = weeks[-last:]
    return f"{whole} The last {len(shown)} of {len(weeks)} weeks: " + "; ".join(
        f"week of {w.start}: +{w.subscribed}, -{w.unsubscribed}, {w.bounced} bounced" for w in shown
    )


def panel(view: desk.ListView) -> ListPanel:
    """A list's charts, drawn."""
    active = charts.line_chart(
        view.series,
        title=f"{view.title}: active subscribers, last {len(view.series)} days",
        desc=(
            f"From {view.series[0][1]:,} on {view.series[0][0]} to {view.series[-1][1]:,} "
            f"on {view.series[-1][0]}."
            if view.series
            else "No subscribers yet."
        ),
        counts=True,
    )
    weekly = charts.bar_chart(
        [(w.start, [w.subscribed, w.unsubscribed, w.bounced]) for w in view.weeks],
        series=["subscribed", "unsubscribed", "bounced"],
        title=f"{view.title}: subscribes, unsubscribes and bounces per week",
        desc=weekly_desc(view.weeks),
        counts=True,
    )
    empty = not any(n for _, n in view.series) and not any(
        w.subscribed or w.unsubscribed or w.bounced or w.complained for w in view.weeks
    )
    return ListPanel(view=view, active_chart=active, weekly_chart=weekly, empty=empty)


def dashboard_routes(
    settings: Settings, engine: Engine, renderer: AdminRenderer, *, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """The dashboard's route."""
    titles = {name: cfg.title for name, cfg in settings.config.lists.items()}
    zone = formats.zones(settings)

    def held() -> list[QueuedRow]:
        """The digests that wait for approval (or were approved and go out now)."""
        with engine.connect() as conn:
            found = [queued_repo.waiting(conn, n) for n in settings_approvals(settings)]
        return [row for row in found if row is not None]

    def figures() -> desk.Dashboard:
        with engine.connect() as conn:
            return desk.dashboard(
                conn, titles, now=clock(), per_subscriber=settings.config.analytics.per_subscriber
            )

    async def dashboard(request: Request) -> Response:
        found = await run_in_threadpool(figures)
        waiting = await run_in_threadpool(held)
        return renderer.page(
            request,
            "admin/desk_dashboard.html.j2",
            board=found,
            panels=[panel(v) for v in found.lists],
            refresh=REFRESH_SECONDS if found.running else None,
            approvals=settings_approvals(settings),
            held=[(row, approval_line(row, zone)) for row in waiting],
            headers={"Refresh": str(REFRESH_SECONDS)} if found.running else None,
        )

    return [Route("/admin/", dashboard, methods=["GET"], name="admin_dashboard")]


def settings_approvals(settings: Settings) -> list[str]:
    """Lists whose digests wait for an editor's approval (``approve = true``)."""
    return sorted(name for name, cfg in settings.config.lists.items() if cfg.approve)
