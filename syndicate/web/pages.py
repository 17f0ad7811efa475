"""The subscriber pages: subscribe, confirm, unsubscribe (RFC 8058 one-click) and preferences.

Every page works without JavaScript and without cookies: links carry signed tokens, and
the one-click unsubscribe POST that mail clients send needs nothing else. The subscribe
answer is the same, in content and in time, whether or not the address was known, so the
form reveals nobody. No GET (or HEAD) changes anything: mail scanners open every link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from syndicate.config import Settings
from syndicate.digest.personalize import preferences_url
from syndicate.digest.welcome import welcome_lists
from syndicate.subscribers.address import display_address
from syndicate.subscribers.tokens import Purpose, Signer, TokenClaims, TokenError, TokenExpired
from syndicate.web import actions
from syndicate.web.actions import Confirmed, SubscribeRequest
from syndicate.web.forms import (
    MAX_TOPICS,
    SubscribeForm,
    allowed_origins,
    check_subscribe,
    client_address,
    read_form,
    same_origin,
    texts,
)
from syndicate.web.ratelimit import RateLimiter
from syndicate.web.render import Renderer


def _and(items: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class Pages:
    """The page endpoints of one site; ``on_outbox`` runs after a request was recorded."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        signer: Signer,
        clock: Callable[[], datetime],
        renderer: Renderer,
        limiter: RateLimiter,
        on_outbox: Callable[[], None] | None,
    ) -> None:
        self.settings, self.engine, self.signer, self.clock = settings, engine, signer, clock
        self.render, self.limiter, self.on_outbox = renderer, limiter, on_outbox
        self.allowed_origins = allowed_origins(settings)

    # -- helpers ---------------------------------------------------------------------------

    def _list_title(self, name: str) -> str:
        declared = self.settings.config.lists.get(name)
        return declared.title if declared else name

    def _verify(self, request: Request, purpose: Purpose) -> TokenClaims | Response:
        """The token's claims, or the error page to answer with."""
        try:
            return self.signer.verify(request.path_params["token"], purpose, now=self.clock())
        except TokenExpired:
            if purpose is Purpose.CONFIRM:
                return self.render.error(
                    400,
                    "This link has expired",
                    "Confirmation links work for 7 days. Please ask for a new one.",
                    link=("/subscribe", "Subscribe again"),
                )
            return self.render.error(
                400,
                "This link has expired",
                "Please use the link in a more recent email from us.",
            )
        except TokenError:
            return self.render.error(
                400,
                "This link is not valid",
                "It may have been cut off or changed. Please copy the whole link from the email.",
            )

    def _forbidden(self) -> HTMLResponse:
        return self.render.error(
            403,
            "This form was sent from another site",
            "For your safety it was not accepted. Please use the form on this site.",
        )

    def _subscribe_page(self, form: SubscribeForm, status: int = 200) -> HTMLResponse:
        choices = [
            {
                "name": name,
                "title": declared.title,
                "description": declared.description,
                "checked": name in form.lists,
            }
            for name, declared in self.settings.config.lists.items()
        ]
        return self.render.page("subscribe", status=status, form=form, choices=choices)

    # -- subscribe -------------------------------------------------------------------------

    async def subscribe_form(self, request: Request) -> Response:
        """GET /subscribe: the form; ``?list=NAME`` pre-checks a list."""
        wanted = request.query_params.getlist("list")
        lists = list(self.settings.config.lists)
        chosen = [n for n in wanted if n in lists] or (lists if len(lists) == 1 else [])
        return self._subscribe_page(SubscribeForm(lists=chosen))

    async def subscribe(self, request: Request) -> Response:
        """POST /subscribe: the request recorded for the outbox sender, or the form again.

        Accepted from the pages' own origin and ``[web] allowed_origins`` (signup forms
        embedded in the publication's own site)."""
        if not same_origin(request, self.settings.web_url, self.allowed_origins):
            return self._forbidden()
        client = client_address(request)
        wait = self.limiter.acquire(client)
        if wait is not None:
            return self.render.error(
                429,
                "Too many requests",
                "Please wait a few minutes before trying again.",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        if self.settings.config.email is None:
            return self.render.error(
                503, "Subscriptions are closed", "This publication cannot send email yet."
            )
        checked = check_subscribe(await read_form(request), self.settings.config.lists, client)
        if not isinstance(checked, SubscribeRequest):
            return self._subscribe_page(checked, status=400)
        # Only recorded, the same way for every address: what it changes and whether a
        # mail goes out is decided by the outbox sender, after this answer.
        await run_in_threadpool(actions.subscribe, self.engine, checked, now=self.clock())
        if self.on_outbox is not None:
            self.on_outbox()
        return self.render.page("check_inbox")

    # -- confirm ---------------------------------------------------------------------------

    def _confirm_lists(self, request: Request) -> tuple[TokenClaims, list[str]] | Response:
        """A confirm link's claims and its lists still declared, or the error page."""
        claims = self._verify(request, Purpose.CONFIRM)
        if isinstance(claims, Response):
            return claims
        lists = [n for n in claims.list_names if n in self.settings.config.lists]
        if not lists:
            return self.render.error(404, "This list no longer exists", "Nothing was changed.")
        return claims, lists

    async def confirm_form(self, request: Request) -> Response:
        """GET (and HEAD) /confirm/{token}: one button, and nothing changes.

        Mail security scanners open every link of a mail, some with HEAD: only the POST
        this page's button makes confirms, so a subscription needs a person's click."""
        found = self._confirm_lists(request)
        if isinstance(found, Response):
            return found
        titles = [self._list_title(n) for n in found[1]]
        return self.render.page("confirm_form", title=_and(titles), titles=titles)

    async def confirm(self, request: Request) -> Response:
        """POST /confirm/{token}: the button of the confirm page; one link confirms every
        list the subscribe request asked for.

        The token in the path is the capability; a post from another site's page (its
        Origin or Referer names another host) is refused, as on the preferences page."""
        found = self._confirm_lists(request)
        if isinstance(found, Response):
            return found
        if not same_origin(request, self.settings.web_url):
            return self._forbidden()
        claims, lists = found
        now = self.clock()
        welcome = welcome_lists(self.settings)
        hooks = self.settings.config.webhooks
        results = await run_in_threadpool(
            actions.confirm, self.engine, claims, lists, now=now, welcome=welcome, hooks=hooks
        )
        if self.on_outbox is not None and any(
            results[n] is Confirmed.ACTIVATED and n in welcome for n in lists
        ):
            self.on_outbox()  # their welcome mail
        good = [n for n in lists if results[n] in (Confirmed.ACTIVATED, Confirmed.ALREADY)]
        left = [n for n in lists if results[n] is Confirmed.LEFT]
        if not good and left:
            titles = _and([self._list_title(n) for n in left])
            return self.render.error(
                409,
                "You unsubscribed after this link was sent",
                f"So it no longer subscribes you to {titles}. To join again, please subscribe.",
                link=("/subscribe?" + "&".join(f"list={n}" for n in left), "Subscribe again"),
            )
        if not good:
            return self.render.error(
                409, "This subscription cannot be confirmed", "Nothing was changed."
            )
        token = self.signer.make(Purpose.PREFERENCES, claims.subscriber_id, good[0], now=now)
        return self.render.page(
            "confirmed",
            title=_and([self._list_title(n) for n in good]),
            titles=[self._list_title(n) for n in good],
            left=[self._list_title(n) for n in left],
            preferences=preferences_url(self.render.root, token),
        )

    # -- unsubscribe -----------------------------------------------------------------------

    async def unsubscribe_form(self, request: Request) -> Response:
        """GET /unsubscribe/{token}: one button; a GET never changes anything (link scanners)."""
        claims = self._verify(request, Purpose.UNSUBSCRIBE)
        if isinstance(claims, Response):
            return claims
        return self.render.page("unsubscribe", title=self._list_title(claims.list_name))

    async def unsubscribe(self, request: Request) -> Response:
        """POST /unsubscribe/{token}: RFC 8058 one-click, or the button of the page."""
        claims = self._verify(request, Purpose.UNSUBSCRIBE)
        if isinstance(claims, Response):
            return claims
        try:  # RFC 8058: the POST itself is the request; a garbled body does not undo it
            form = await read_form(request)
        except HTTPException:
            form = FormData()
        how = "one-click" if "One-Click" in texts(form, "List-Unsubscribe") else "form"
        done = await run_in_threadpool(
            actions.unsubscribe,
            self.engine,
            claims,
            now=self.clock(),
            detail=f"unsubscribe ({how})",
            hooks=self.settings.config.webhooks,
        )
        if not done:
            return self.render.error(400, "This link is not valid", "Nothing was changed.")
        return self.render.page(
            "unsubscribed", title=self._list_title(claims.list_name), list_name=claims.list_name
        )

    async def no_token(self, request: Request) -> Response:
        """/unsubscribe and /preferences without a token (the archive copy links there)."""
        return self.render.page("no_token")

    # -- preferences -----------------------------------------------------------------------

    def _topics_offered(self, list_name: str, current: tuple[str, ...]) -> list[str]:
        """The topics a list offers: its own tags, and any the reader already has on it."""
        declared = self.settings.config.lists.get(list_name)
        offered = set(declared.tags if declared else ()) | set(current)
        return sorted(offered, key=lambda t: (t.casefold(), t))

    def _preferences_page(self, prefs: actions.Preferences, *, saved: bool) -> Response:
        lists = []
        for name, declared in self.settings.config.lists.items():
            chosen = prefs.topics.get(name, ())
            lists.append(
                {
                    "name": name,
                    "title": declared.title,
                    "description": declared.description,
                    "status": prefs.statuses.get(name),
                    "topics": self._topics_offered(name, chosen),
                    "chosen": set(chosen),
                }
            )
        return self.render.page(
            "preferences",
            subscriber=prefs.subscriber,
            email=display_address(prefs.subscriber.email),
            choices=lists,
            saved=saved,
            to_confirm=_and([self._list_title(n) for n in prefs.to_confirm])
            if prefs.to_confirm
            else None,
        )

    async def preferences_form(self, request: Request) -> Response:
        """GET /preferences/{token}: topics and lists."""
        claims = self._verify(request, Purpose.PREFERENCES)
        if isinstance(claims, Response):
            return claims
        try:
            found = await run_in_threadpool(
                actions.load_preferences, self.engine, claims.subscriber_id
            )
        except LookupError:
            return self.render.error(400, "This link is not valid", "Nothing was changed.")
        return self._preferences_page(found, saved=False)

    async def preferences(self, request: Request) -> Response:
        """POST /preferences/{token}: save topics and list choices."""
        claims = self._verify(request, Purpose.PREFERENCES)
        if isinstance(claims, Response):
            return claims
        if not same_origin(request, self.settings.web_url):
            return self._forbidden()
        form = await read_form(request)
        try:
            before = await run_in_threadpool(
                actions.load_preferences, self.engine, claims.subscriber_id
            )
            topics = {}
            for name in self.settings.config.lists:  # only what each list offers counts
                posted = set(texts(form, f"topic:{name}"))
                offered = self._topics_offered(name, before.topics.get(name, ()))
                topics[name] = [t for t in offered if t in posted][:MAX_TOPICS]
            found = await run_in_threadpool(
                actions.save_preferences,
                self.engine,
                claims.subscriber_id,
                topics=topics,
                lists=set(texts(form, "list")),
                declared=list(self.settings.config.lists),
                client=client_address(request),
                now=self.clock(),
                welcome=welcome_lists(self.settings),
                hooks=self.settings.config.webhooks,
            )
        except LookupError:
            return self.render.error(400, "This link is not valid", "Nothing was changed.")
        if self.on_outbox is not None:  # confirmation mails, or the welcome of a list joined
            self.on_outbox()
        return self._preferences_page(found, saved=True)
