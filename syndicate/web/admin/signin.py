"""``/admin/sign-in`` (GET form, POST) and ``/admin/sign-out`` (POST only).

The sign-in form is protected before any session exists: a random pre-session value in a
signed cookie, and a token derived from it in the form's hidden ``csrf`` field. One form
asks for the name, the password and (for accounts with TOTP) the code, so it works
without JavaScript and does not tell which accounts have a second factor.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from syndicate.web.admin import cookies
from syndicate.web.admin.gate import (
    Gate,
    admin_form,
    refused_post,
    safe_next,
    same_site,
    signed_in,
)
from syndicate.web.forms import client_address, read_form
from syndicate.web.ratelimit import client_key

PRE_SESSION_AGE = timedelta(hours=2)
MAX_FIELD = 1024


def _wait_text(seconds: float) -> str:
    if seconds < 90:
        n = max(1, math.ceil(seconds))
        return f"{n} second" + ("s" if n != 1 else "")
    n = math.ceil(seconds / 60)
    return f"{n} minute" + ("s" if n != 1 else "")


class SignInPages:
    """The sign-in and sign-out endpoints."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def _pre_session(self, request: Request) -> str | None:
        """The request's valid pre-session value, or None."""
        keys = self.gate.keys
        assert keys is not None
        data = cookies.unsign(keys.cookies, "pre", request.cookies.get(cookies.PRE_SESSION))
        if data is None:
            return None
        _, _, issued = data.partition("~")
        if not issued.isdigit():
            return None
        age = self.gate.clock().timestamp() - int(issued)
        if not 0 <= age < PRE_SESSION_AGE.total_seconds() + 300:
            return None
        return data

    def _form(
        self,
        request: Request,
        *,
        status: int = 200,
        name: str = "",
        error: str | None = None,
        headers: dict[str, str] | None = None,
        next_path: str | None = None,
    ) -> Response:
        keys = self.gate.keys
        assert keys is not None
        data = self._pre_session(request)
        fresh = data is None or (
            self.gate.clock().timestamp() - int(data.partition("~")[2])
            > PRE_SESSION_AGE.total_seconds() / 2
        )
        if fresh:
            issued = int(self.gate.clock().timestamp())
            data = f"{secrets.token_urlsafe(18)}~{issued}"
        assert data is not None
        response = self.gate.render.page(
            request,
            "admin/sign_in.html.j2",
            status=status,
            headers=headers,
            csrf=cookies.tag(keys.cookies, "precsrf", data),
            name=name,
            error=error,
            next=next_path or safe_next(request.query_params.get("next")),
        )
        if fresh:
            cookies.set_cookie(
                response,
                cookies.PRE_SESSION,
                cookies.sign(keys.cookies, "pre", data),
                path=self.gate.cookie_path,
                secure=self.gate.secure(request),
                max_age=int(PRE_SESSION_AGE.total_seconds()),
            )
        return response

    async def form(self, request: Request) -> Response:
        """GET /admin/sign-in: the form (signed in already: on to the desk)."""
        if self.gate.session(request) is not None:
            target = safe_next(request.query_params.get("next"))
            return RedirectResponse(self.gate.root + target, status_code=303)
        return self._form(request)

    async def sign_in(self, request: Request) -> Response:
        """POST /admin/sign-in: check the attempt; a session cookie when it is right."""
        gate, keys, accounts = self.gate, self.gate.keys, self.gate.accounts
        assert keys is not None and accounts is not None
        if not same_site(request, gate.web_url):
            refused_post(request, None, "sign-in form sent from another site")
            return gate.forbidden(request, "This form was sent from another site.")
        form = await read_form(request)
        data = self._pre_session(request)
        posted = form.get("csrf")
        if (
            data is None
            or not isinstance(posted, str)
            or not hmac.compare_digest(
                posted.encode("utf-8", "replace"),
                cookies.tag(keys.cookies, "precsrf", data).encode("ascii"),
            )
        ):
            refused_post(request, None, "sign-in form without a valid CSRF token")
            return gate.forbidden(
                request,
                "This sign-in form has expired or did not come from this site; "
                "please open the sign-in page again.",
            )

        def text(field: str) -> str:
            value = form.get(field)
            return value[:MAX_FIELD] if isinstance(value, str) else ""

        name, password, code = text("name"), text("password"), text("code")
        next_path = safe_next(text("next"))
        client = client_address(request)
        outcome = await run_in_threadpool(
            accounts.sign_in,
            name,
            password,
            code,
            client=client,
            client_key=client_key(client),
            now=gate.clock(),
        )
        if outcome.retry_after > 0:
            return self._form(
                request,
                status=429,
                name=name,
                error=(
                    "Too many attempts to sign in. "
                    f"Please wait {_wait_text(outcome.retry_after)} and try again."
                ),
                headers={"Retry-After": str(max(1, math.ceil(outcome.retry_after)))},
                next_path=next_path,
            )
        if outcome.session is None:
            return self._form(
                request,
                status=400,
                name=name,
                error="The name, password or code is not right.",
                next_path=next_path,
            )
        response = RedirectResponse(gate.root + next_path, status_code=303)
        secure = gate.secure(request)
        cookies.set_cookie(
            response,
            cookies.SESSION,
            cookies.sign(keys.cookies, "session", outcome.session),
            path=gate.cookie_path,
            secure=secure,
            max_age=int(accounts.policy.absolute.total_seconds()),
        )
        cookies.clear_cookie(response, cookies.PRE_SESSION, path=gate.cookie_path, secure=secure)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def sign_out(self, request: Request) -> Response:
        """POST /admin/sign-out: end this session (after the CSRF check)."""
        await admin_form(request)
        admin = signed_in(request)
        accounts = self.gate.accounts
        assert accounts is not None
        accounts.end(admin.id_hash)
        response = RedirectResponse(self.gate.root + "/admin/sign-in", status_code=303)
        cookies.clear_cookie(
            response,
            cookies.SESSION,
            path=self.gate.cookie_path,
            secure=self.gate.secure(request),
        )
        response.headers["Cache-Control"] = "no-store"
        return response
