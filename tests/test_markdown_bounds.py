"""Hostile Markdown is bounded before markdown-it parses it: a body too long, or with more
`[` than the parser can afford (each one a link label it looks for the end of), is refused
with the file, the line and the limit; deep nesting finishes (markdown-it's own nesting
cap). Timings are in bench/markdown_worst.py, not here."""

from __future__ import annotations

import pytest

from syndicate.content.markdown import MAX_BODY, MAX_BRACKETS, read_markdown
from syndicate.errors import ContentError

HEAD = "---\ntitle: Hostile\n---\n"


def test_a_body_over_the_limit_is_refused_naming_file_line_and_limit() -> None:
    body = "word " * (MAX_BODY // 5 + 1)
    with pytest.raises(ContentError) as refused:
        read_markdown("content/huge.md", HEAD + body)
    assert str(refused.value).startswith("content/huge.md:4: the Markdown body is 500,")
    assert str(refused.value).endswith(
        f" characters; at most {MAX_BODY:,} (split the article, or move the bulk to a linked file)"
    )


@pytest.mark.parametrize("line", ["[" * 5_000_000, "*" * 5_000_000, "[a](" * 1_250_000])
def test_a_five_megabyte_line_of_brackets_or_stars_is_refused(line: str) -> None:
    with pytest.raises(ContentError, match=r"^content/x\.md:4: .*at most "):
        read_markdown("content/x.md", HEAD + line + "\n")


def test_too_many_brackets_are_refused_at_the_line_of_the_one_over_the_limit() -> None:
    body = "Intro.\n\n" + "[" * MAX_BRACKETS + "\n" + "[a]\n"
    with pytest.raises(ContentError) as refused:
        read_markdown("content/x.md", HEAD + body)
    assert str(refused.value).startswith(
        f"content/x.md:7: {MAX_BRACKETS + 1:,} '[' in the Markdown body; at most {MAX_BRACKETS:,}"
    )
    # At the limit it is read (a text of links is fine).
    fine = read_markdown("content/x.md", HEAD + "Intro [a](https://x.org/) " * MAX_BRACKETS)
    assert fine is not None and fine.html.count("<a ") == MAX_BRACKETS


@pytest.mark.parametrize(
    "body",
    [
        "> " * 100_000 + "deep\n",
        "- " * 100_000 + "deep\n",
        "".join("  " * i + "- item\n" for i in range(2_000)),
        "".join(">" * i + " quote\n" for i in range(1, 2_000)),
    ],
)
def test_a_hundred_thousand_deep_nesting_finishes_with_an_article_or_a_clear_refusal(
    body: str,
) -> None:
    try:
        entry = read_markdown("content/deep.md", HEAD + "Intro.\n\n" + body)
    except ContentError as exc:
        assert str(exc).startswith("content/deep.md:"), exc
    else:
        assert entry is not None and entry.title == "Hostile"
