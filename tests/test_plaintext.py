"""Tests for the plain-text article reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.content.plaintext import read_plaintext
from syndicate.errors import ContentError
from syndicate.models import Entry, Teaser

SAMPLE = Path(__file__).parent.parent / "content" / "kazakhstan-mediator.txt"

BODY_1 = "The first paragraph sets the scene for the whole piece."
BODY_2 = "A second paragraph develops the argument\nover two lines."
BODY_3 = "The last paragraph wraps it all up."
CREDIT = "[Photo by Jane Roe / Example Agency]"
TEASERS = (
    "Why Rivers Move: A Question for Geographers?\n\n"
    "Rivers have always shifted their beds, and the consequences for borders…\n\n"
    "The Quiet Return of the Tram\n\n"
    "Across Europe, cities that tore up their tracks are laying them again…"
)


def article(*paragraphs: str) -> str:
    return "\n\n".join(("A Plain Title", *paragraphs)) + "\n"


def body_paragraphs(entry: Entry) -> list[str]:
    return [p.removeprefix("<p>").removesuffix("</p>") for p in entry.html.split("\n")]


def error(text: str) -> ContentError:
    with pytest.raises(ContentError) as info:
        read_plaintext("in.txt", text)
    assert info.value.path == "in.txt"
    return info.value


# --- the real sample ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Entry:
    return read_plaintext(str(SAMPLE), SAMPLE.read_text(encoding="utf-8"))


def test_sample_title_author_credit(sample: Entry) -> None:
    assert sample.title == (
        "Among Conflicts and Sanctions: Kazakhstan\u2019s Role in Navigating Peace and "
        "Resolving Crises"
    )
    assert sample.author == "Ernest Gallo"
    assert sample.author_bio is not None
    assert sample.author_bio.startswith("Ernest Gallo is an academic")
    assert sample.author_bio.endswith("are those of the author.")
    assert sample.image_credit == (
        "Photo by the official website of the President of the Republic of Kazakhstan"
    )


def test_sample_teasers(sample: Entry) -> None:
    assert [t.title for t in sample.related] == [
        "AI Fighter Jets: Skynet or Strategic Supremacy?",
        "On the Prospects of a Third World War",
        "Reevaluating Zionism: A Philosophical Perspective on the Modern State of Israel\u2019s "
        "Prophetic and Historical Significance",
    ]
    starts = ("The recent milestone achieved", "Frederick the Great remarks", "As we reflect on")
    for teaser, start in zip(sample.related, starts, strict=True):
        assert teaser.excerpt.startswith(start)
        assert teaser.excerpt.endswith("...")
        assert teaser.url is None


def test_sample_body(sample: Entry) -> None:
    paragraphs = body_paragraphs(sample)
    assert paragraphs[0].startswith("In the tense and complex geopolitical landscape")
    assert paragraphs[-1].startswith("In conclusion, the consolidation of diplomatic efforts")
    assert sample.lead == paragraphs[0]
    assert "Ernest Gallo" not in sample.html
    assert "those of the author" not in sample.html
    assert "Photo by" not in sample.html
    assert "[" not in sample.html
    for teaser in sample.related:
        assert teaser.title not in sample.html
        assert teaser.excerpt[:30] not in sample.html
    # The caller owns identity and dates.
    assert sample.slug is sample.url is sample.date is sample.summary is sample.image is None
    assert sample.tags == ()


# --- variants ----------------------------------------------------------------------------


def test_plain_article_keeps_every_paragraph() -> None:
    entry = read_plaintext("a.txt", article(BODY_1, BODY_2, "Conclusion", BODY_3))
    assert body_paragraphs(entry) == [
        BODY_1,
        "A second paragraph develops the argument over two lines.",
        "Conclusion",
        BODY_3,
    ]
    assert entry.related == ()
    assert entry.author is entry.author_bio is entry.image_credit is None
    assert entry.lead == BODY_1


def test_html_is_escaped_and_whitespace_collapsed() -> None:
    entry = read_plaintext("a.txt", '  Tom &   Jerry \n\n  Cats < dogs & "mice"\n   too  \n')
    assert entry.title == "Tom & Jerry"
    assert entry.html == '<p>Cats &lt; dogs &amp; "mice" too</p>'
    assert entry.lead == 'Cats < dogs & "mice" too'


def test_rest_of_title_paragraph_is_body() -> None:
    entry = read_plaintext("a.txt", "\n\n   \nTitle line\nFirst body line.\n\nSecond.")
    assert entry.title == "Title line"
    assert body_paragraphs(entry) == ["First body line.", "Second."]


def test_whitespace_only_lines_separate_paragraphs() -> None:
    entry = read_plaintext("a.txt", "Title\n \t \nOne.\n\u00a0\n\n  \nTwo.")
    assert body_paragraphs(entry) == ["One.", "Two."]


def test_bio_without_disclaimer_after_credit() -> None:
    bio = "Marie-Claire van der Berg writes about energy policy from Rotterdam."
    entry = read_plaintext("a.txt", article(BODY_1, BODY_3, CREDIT, bio, TEASERS))
    assert entry.author == "Marie-Claire van der Berg"
    assert entry.author_bio == bio
    assert entry.image_credit == "Photo by Jane Roe / Example Agency"
    assert body_paragraphs(entry) == [BODY_1, BODY_3]


def test_name_like_paragraph_without_credit_stays_in_body() -> None:
    last = "Marie Dupont is the minister who signed the treaty."
    entry = read_plaintext("a.txt", article(BODY_1, last))
    assert entry.author is entry.author_bio is None
    assert body_paragraphs(entry) == [BODY_1, last]


def test_sentence_after_credit_is_not_a_bio() -> None:
    last = "This is how the story ended."
    entry = read_plaintext("a.txt", article(BODY_1, CREDIT, last))
    assert entry.author is entry.author_bio is None
    assert entry.image_credit == "Photo by Jane Roe / Example Agency"
    assert body_paragraphs(entry) == [BODY_1, last]


@pytest.mark.parametrize(
    ("bio", "author"),
    [
        ("Jane Doe teaches law. The opinions expressed here are those of the authors.", "Jane Doe"),
        (
            "J. R. Smith was a diplomat. Views expressed are solely that of the author.",
            "J. R. Smith",
        ),
        (
            "Omar al-Farouq currently serves at a think tank. The views expressed in this piece "
            "are the author\u2019s own.",
            "Omar al-Farouq",
        ),
        (
            "Seán O\u2019Brien has written three books. The views and opinions expressed in this "
            "article is that of the author.",
            "Seán O\u2019Brien",
        ),
        ("The views expressed in this commentary are those of the author.", None),
        ("Written by a former ambassador. THE VIEWS EXPRESSED ARE THOSE OF THE AUTHOR.", None),
    ],
)
def test_disclaimer_bio_in_other_words(bio: str, author: str | None) -> None:
    entry = read_plaintext("a.txt", article(BODY_1, BODY_3, bio))
    assert entry.author == author
    assert entry.author_bio == bio
    assert entry.image_credit is None
    assert body_paragraphs(entry) == [BODY_1, BODY_3]


def test_bio_before_credit_is_found_by_disclaimer() -> None:
    bio = "Ana de la Cruz is a journalist. The views expressed are those of the author."
    entry = read_plaintext("a.txt", article(BODY_1, bio, CREDIT))
    assert entry.author == "Ana de la Cruz"
    assert entry.image_credit == "Photo by Jane Roe / Example Agency"
    assert body_paragraphs(entry) == [BODY_1]


def test_credit_under_the_title() -> None:
    entry = read_plaintext("a.txt", article("[  Image: Reuters ]", BODY_1, BODY_3))
    assert entry.image_credit == "Image: Reuters"
    assert body_paragraphs(entry) == [BODY_1, BODY_3]


def test_bracketed_but_not_a_credit() -> None:
    odd = ["[a] and [b]", "[]", "[unclosed", "[two\nlines]"]
    entry = read_plaintext("a.txt", article(BODY_1, *odd))
    assert entry.image_credit is None
    assert len(body_paragraphs(entry)) == 1 + len(odd)


def test_unicode_ellipsis_teasers_without_bio() -> None:
    entry = read_plaintext("a.txt", article(BODY_1, BODY_3, TEASERS))
    assert entry.related == (
        Teaser(
            title="Why Rivers Move: A Question for Geographers?",
            excerpt="Rivers have always shifted their beds, and the consequences for borders…",
        ),
        Teaser(
            title="The Quiet Return of the Tram",
            excerpt="Across Europe, cities that tore up their tracks are laying them again…",
        ),
    )
    assert body_paragraphs(entry) == [BODY_1, BODY_3]


def test_trailing_ellipsis_after_sentence_is_body() -> None:
    last = "And so the waiting continues..."
    entry = read_plaintext("a.txt", article(BODY_1, BODY_3, last))
    assert entry.related == ()
    assert body_paragraphs(entry) == [BODY_1, BODY_3, last]


@pytest.mark.parametrize("title", ["Then he said:", "It ended.", "Lead-in,", "x" * 201])
def test_teaser_title_shape(title: str) -> None:
    entry = read_plaintext("a.txt", article(BODY_1, title, "and then nothing..."))
    assert entry.related == ()
    assert body_paragraphs(entry)[-2:] == [title, "and then nothing..."]


def test_teaser_scan_stops_at_first_misfit() -> None:
    # The earlier pair looks like a teaser but is separated from the others by body text.
    text = article("Heading", "early text...", BODY_3, TEASERS)
    entry = read_plaintext("a.txt", text)
    assert len(entry.related) == 2
    assert body_paragraphs(entry) == ["Heading", "early text...", BODY_3]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n", "   \n\t\n  ", "\x00\n\x0c"])
def test_empty_file(text: str) -> None:
    err = error(text)
    assert err.line == 1
    assert err.reason.startswith("empty file: ")


def test_title_too_long() -> None:
    err = error("\n\n" + "w" * 301 + "\n\nBody.")
    assert err.line == 3
    assert err.reason.startswith("first line is 301 characters; the first line must be")
    assert read_plaintext("a.txt", "w" * 300 + "\n\nBody.").title == "w" * 300


@pytest.mark.parametrize(("text", "line"), [("Title", 1), ("\n\n Title \n\n \n", 3)])
def test_no_body(text: str, line: int) -> None:
    err = error(text)
    assert err.line == line
    assert err.reason == (
        "no body: the title must be followed by a blank line and at least one paragraph"
    )


@pytest.mark.parametrize(
    ("paragraphs", "line"),
    [
        ((CREDIT,), 3),
        (("Jane Doe is here. The views expressed are those of the author.",), 3),
        (("Heading", "text..."), 3),
        ((CREDIT, "Jane Doe writes on trade.", TEASERS), 3),
    ],
)
def test_body_empty_after_stripping(paragraphs: tuple[str, ...], line: int) -> None:
    err = error(article(*paragraphs))
    assert err.line == line
    assert err.reason.startswith("no body left: ")


def test_body_empty_on_title_paragraph_continuation() -> None:
    err = error("Title\n[Photo by X]\n")
    assert err.line == 2


# --- robustness and speed ----------------------------------------------------------------

ANY_CHAR = st.one_of(
    st.characters(),
    st.sampled_from(list("\x00\x0b\x0c\x1c\x85\u2028\ud800\udfff\n\n\n \t[].…?:")),
)
PIECES = st.sampled_from(
    [
        "",
        " ",
        "Title",
        "A Title: With a Colon?",
        "Body sentence.",
        "ends in dots...",
        "ends in an ellipsis…",
        "[Photo by Someone]",
        "[]",
        "[ ]",
        "Jane Doe is a writer.",
        "The views expressed are those of the author.",
        "x" * 301,
        "\x00",
        "\ud800",
        "de van",
    ]
)
STRUCTURED = st.lists(
    st.tuples(PIECES, st.sampled_from(["\n", "\n\n", " \n\t\n", ""])), max_size=25
).map(lambda parts: "".join(piece + sep for piece, sep in parts))


def check(text: str) -> None:
    try:
        entry = read_plaintext("fuzz.txt", text)
    except ContentError as err:
        assert err.line >= 1
        assert err.reason
        return
    assert entry.title and entry.html.startswith("<p>") and entry.lead
    encoded = (entry.title + entry.html + (entry.author_bio or "")).encode("utf-8")
    assert b"\x00" not in encoded


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR))
def test_arbitrary_text_never_crashes(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(STRUCTURED)
def test_structured_text_never_crashes(text: str) -> None:
    check(text)


@pytest.mark.parametrize(
    "text",
    [
        "T\n\n" + "a" * 1_000_000,
        "T\n\n" + "views " * 200_000 + "expressed",
        "T\n\nBody.\n\n" + "[Photo]\n\n" + ("views expressed " * 100_000),
        "T\n\n" + "Jean " * 200_000,
        "T\n\n" + "\n" * 500_000 + "x",
    ],
)
def test_huge_inputs_are_handled(text: str) -> None:
    # Speed is measured in bench/; here a catastrophic regex would show up as a hang.
    check(text)
