"""The sandbox of a list's ``subject`` template, bounded in time and size.

Jinja2's sandbox stops attribute tricks (``__class__``…) but not work: nested
``range(100000)`` loops, ``"x" * 10**9`` or ``"a"|center(10**9)`` hang or fill memory
while ``preview`` or ``send`` renders a subject. A subject is one line, so its template gets
expressions and ``{% if %}`` only (no loops, macros, ``set`` or blocks: nothing repeats),
at most :data:`MAX_TEMPLATE` characters, a short list of filters, and every operator,
filter and method call that can make a value bigger is checked against :data:`MAX_VALUE`
*before* it runs. Breaking a bound is a :class:`SubjectError`, never a hang.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sized
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE = 2000  # characters of the template itself
MAX_VALUE = 10_000  # characters (or items) any one value may have
MAX_NUMBER = 10_000  # largest number a filter, method or range() may be given
MAX_BITS = 10_000  # largest integer ** may make, in bits
MAX_OUTPUT = 10_000  # characters rendered before rendering stops (the subject keeps 200)
# Statements that repeat or name work; the rest (if, output, filter blocks) run once.
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.For: "loops ({% for %})",
    nodes.Macro: "macros",
    nodes.CallBlock: "call blocks",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.With: "{% with %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% import %}",
    nodes.Extends: "{% extends %}",
}
_FILTERS = (
    "abs capitalize count d default e escape first float int join last length lower max "
    "min replace round string striptags title trim truncate upper wordcount"
).split()
_WIDE_FORMAT = re.compile(r"[0-9]{4,}|\*")  # a field width or precision of 1000 and more


_PASSED = (jinja2.runtime.Context, nodes.EvalContext, jinja2.Environment)


class SubjectError(ValueError):
    """A subject template goes beyond what the sandbox allows (the message says what)."""


def _size(value: object) -> int:
    return len(value) if isinstance(value, Sized) and not isinstance(value, dict) else 1


def _check_number(value: object) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise SubjectError(f"the number {value:.0f} is over the limit of {MAX_NUMBER:,}")


def _check_size(value: object) -> object:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE:
        raise SubjectError(f"a value of {len(value):,} characters is over {MAX_VALUE:,}")
    return value


def _check_format(text: object) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise SubjectError("format widths of 1000 and more (or '*') are not allowed")


def _replaced_size(text: object, old: object, new: object) -> int:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    times = len(text) + 1 if not old else len(text) // len(old)
    return len(text) + times * len(new)


def _joined_size(items: object, separator: object) -> int:
    text = (
        sum(len(i) for i in items if isinstance(i, str)) if isinstance(items, list | tuple) else 0
    )
    return text + _size(items) * _size(separator)


def _before(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a call whose result would be too big, before it runs."""
    for value in (*args, *kwargs.values()):
        _check_number(value)
        _check_size(value)
    if name == "replace" and len(args) >= 3:
        estimate = _replaced_size(*args[:3])
    elif name == "join" and args:
        estimate = _joined_size(args[0], args[1] if len(args) > 1 else kwargs.get("d", ""))
    elif name in ("format", "format_map") and args:
        _check_format(args[0])
        estimate = 0
    else:
        estimate = 0
    if estimate > MAX_VALUE:
        raise SubjectError(f"{name} would make {estimate:,} characters, over {MAX_VALUE:,}")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        # Filters marked pass_context (…) get that first: it is no value to check.
        _before(name, tuple(a for a in args if not isinstance(a, _PASSED)), kwargs)
        return _check_size(function(*args, **kwargs))

    if hasattr(function, "jinja_pass_arg"):  # pass_context / pass_eval_context markers
        bounded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _range(*args: int) -> range:
    for value in args:
        _check_number(value)
    return range(*args)


class SubjectSandbox(SandboxedEnvironment):
    """A sandbox where no expression can be made to do much work."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=jinja2.StrictUndefined)
        builtin = self.filters
        self.filters = {n: _bounded_filter(n, builtin[n]) for n in _FILTERS if n in builtin}
        self.globals = {"range": _range}

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """``*``, ``**``, ``%`` and ``+`` with their result's size checked first."""
        if operator == "*":
            count = right if isinstance(left, str | list | tuple) else left
            if (
                isinstance(count, int)
                and _size(left if count is right else right) * count > MAX_VALUE
            ):
                raise SubjectError(f"repeating a value {count:,} times is over {MAX_VALUE:,}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_BITS:
                raise SubjectError(f"a power over {MAX_BITS:,} bits")
        elif operator == "%":
            _check_format(left)
        elif operator == "+" and isinstance(left, str | list | tuple):
            if _size(left) + _size(right) > MAX_VALUE:
                raise SubjectError(f"joining values over {MAX_VALUE:,} characters")
        return _check_size(super().call_binop(context, operator, left, right))

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Method calls (``title.center(…)``) checked like filters."""
        name = getattr(__obj, "__name__", "")
        # The sandbox wraps str.format in a function of its own: the string is behind it.
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str):  # a str method: the string is its first argument
            _check_format(owner if name in ("format", "format_map") else "")
            args_seen = (args[0], owner) if name == "join" and args else (owner, *args)
            _before(name, args_seen, kwargs)
        else:
            _before(name, args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))


_SANDBOX = SubjectSandbox()


@lru_cache(maxsize=64)
def compile_subject(source: str) -> jinja2.Template:
    """The template of ``source``; SubjectError (or a Jinja2 error) if it is not allowed."""
    if len(source) > MAX_TEMPLATE:
        raise SubjectError(f"the template is {len(source):,} characters; at most {MAX_TEMPLATE:,}")
    tree = _SANDBOX.parse(source)
    for kind, what in _REFUSED.items():
        if tree.find(kind) is not None:
            raise SubjectError(f"{what} are not allowed in a subject template: it is one line")
    return _SANDBOX.from_string(tree)


def render_bounded(source: str, context: dict[str, Any]) -> str:
    """``source`` rendered with ``context``, stopping after :data:`MAX_OUTPUT` characters."""
    out: list[str] = []
    size = 0
    pieces: Iterator[str] = compile_subject(source).generate(context)
    for piece in pieces:
        out.append(piece)
        size += len(piece)
        if size > MAX_OUTPUT:
            break
    return "".join(out)[:MAX_OUTPUT]
