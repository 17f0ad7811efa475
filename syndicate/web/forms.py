"""Reading what browsers post: bounded form parsing, the same-origin check, validation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request

from syndicate.config import Settings
from syndicate.config.types import web_origin
from syndicate.subscribers.address import MAX_LENGTH, AddressError, normalize_address
from syndicate.subscribers.names import NameRefused, clean_name
from syndicate.web.actions import SubscribeRequest
from syndicate.web.proxy import parse_address

MAX_FIELDS = 200
MAX_FIELD_BYTES = 4096
MAX_TOPICS = 200


async def read_form(request: Request) -> FormData:
    """The posted form (urlencoded or multipart), small fields only and no files.

    Too many or too large fields, or a file, end in a 400 (HTTPException).
    """
    return await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)


def texts(form: FormData, name: str) -> list[str]:
    """Every text value posted under ``name`` (files are ignored)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _origin(url: str) -> str | None:
    """The origin (``scheme://host[:port]``, normalized) of a URL or Origin header."""
    parts = urlsplit(url)
    try:
        return web_origin(f"{parts.scheme}://{parts.netloc}")
    except ValueError:
        return None


def allowed_origins(settings: Settings) -> frozenset[str]:
    """The origins whose pages may post the subscribe form: ``[web] allowed_origins``, by
    default those of ``publication.base_url`` and ``web.base_url``; the pages' own always."""
    configured = settings.config.web.allowed_origins
    if configured is None:
        configured = [settings.publication.base_url, settings.web_url]
    found = {_origin(url) for url in [*configured, settings.web_url]}
    return frozenset(o for o in found if o is not None)


def same_origin(request: Request, web_url: str, allowed: Collection[str] = ()) -> bool:
    """Whether a form post comes from our own pages, or a site in ``allowed`` (a CSRF check).

    The Origin header, else the Referer, must name this host (as the Host header or the
    configured web URL says) or one of the ``allowed`` origins (normalized, as
    :func:`allowed_origins` gives them); without either header the post is allowed, as old
    browsers and privacy tools send neither. ``Origin: null`` (sandboxed or cross-site
    under a strict referrer policy) is refused.
    """
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    origin = _origin(claimed)
    if origin is None:
        return False
    if origin == _origin(web_url) or origin in allowed:
        return True
    scheme = origin.partition("://")[0]
    return origin == _origin(f"{scheme}://{request.headers.get('host', '')}")


def client_address(request: Request) -> str:
    """The client's IP address (a trusted proxy's ``X-Forwarded-For``: web/proxy.py);
    ``unknown`` for anything that is not an IP address."""
    found = parse_address(request.client.host) if request.client else None
    return str(found) if found is not None else "unknown"


@dataclass(slots=True)
class SubscribeForm:
    """What was typed into the subscribe form, and what is wrong with it."""

    email: str = ""
    name: str = ""
    lists: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def check_subscribe(
    form: FormData, declared: Collection[str], client: str
) -> SubscribeForm | SubscribeRequest:
    """A valid request, or the form as typed with an error per bad field."""
    typed = SubscribeForm(
        email=(texts(form, "email") or [""])[0][: MAX_LENGTH * 2],
        name=(texts(form, "name") or [""])[0][:1000],
        lists=[name for name in texts(form, "list") if name in declared],
    )
    address = name = None
    try:
        address = normalize_address(typed.email)
    except AddressError as exc:
        typed.errors["email"] = f"Please enter a valid email address: {exc.reason}."
    try:
        name = clean_name(typed.name)
    except NameRefused as exc:
        typed.errors["name"] = f"Please check your name: {exc}."
    unknown = [n for n in texts(form, "list") if n not in declared]
    if unknown:
        typed.errors["list"] = "One of the chosen lists does not exist; please choose again."
    elif not typed.lists:
        typed.errors["list"] = "Please choose at least one list."
    if typed.errors or address is None:
        return typed
    lists = tuple(dict.fromkeys(typed.lists))  # once each, in the order given
    return SubscribeRequest(address=address, name=name, lists=lists, client=client)
