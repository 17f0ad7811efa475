"""The desk's pages (issue 17), one module per area, gathered for :func:`admin_routes`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from starlette.routing import BaseRoute

from syndicate.config import Settings
from syndicate.web.admin import format as formats
from syndicate.web.admin.pages_dashboard import dashboard_routes
from syndicate.web.admin.pages_deliverability import deliverability_routes
from syndicate.web.admin.pages_sends import sends_routes
from syndicate.web.admin.pages_subscriber import subscriber_routes
from syndicate.web.admin.pages_subscribers import subscribers_routes
from syndicate.web.admin.render import AdminRenderer


def desk_pages(
    settings: Settings, engine: Engine, *, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """Every desk page's routes (dashboard, sends, deliverability, subscribers and each
    subscriber's own page)."""
    renderer = AdminRenderer(settings)
    formats.register(renderer.env, settings)
    return [
        *dashboard_routes(settings, engine, renderer, clock=clock),
        *sends_routes(settings, engine, renderer, clock=clock),
        *deliverability_routes(settings, engine, renderer, clock=clock),
        *subscribers_routes(settings, engine, renderer),
        *subscriber_routes(settings, engine, renderer, clock=clock),
    ]
