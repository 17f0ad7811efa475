"""What ``subscribers import`` and ``add`` print: the summary, the notices, and whether a
row made active gets the list's welcome mail."""

from __future__ import annotations

import sys

from syndicate.cli.base import err
from syndicate.config import Settings
from syndicate.subscribers.address import display_address
from syndicate.subscribers.importer import ImportReport
from syndicate.text import plural


def import_summary(report: ImportReport) -> str:
    """One line: what an import stored, rejected and queued."""
    rejected = len(report.problems)
    # Rows that kept stored values are already counted (updated or unchanged): a remark.
    kept = (
        f"; in {plural(report.kept, 'row')} the stored values were kept (see above; "
        "--update overwrites them)"
        if report.kept
        else ""
    )
    # Every row is in one bucket; "stored" leaves out the rows kept unsubscribed or kept
    # out (nothing of theirs is on the list) and the rejected ones.
    stored = report.committed - report.kept_suppressed - report.kept_out
    return (
        f"{stored:,} of {plural(report.rows + rejected, 'row')} stored: "
        f"{plural(report.added, 'new subscriber')}, {report.subscribed:,} subscribed, "
        f"{report.reactivated:,} resubscribed, "
        + (
            f"{report.suppressed:,} suppressed (from the file's status), "
            if report.suppressed
            else ""
        )
        + f"{report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.kept_suppressed:,} kept unsubscribed"
        + (
            f", {report.kept_out:,} kept out: bounced or complained on another list "
            f"(--resubscribe to add {'it' if report.kept_out == 1 else 'them'} anyway)"
            if report.kept_out
            else ""
        )
        + "; "
        f"{plural(rejected, 'row')} rejected{kept}"
        + (
            f"; {plural(report.welcomed, 'welcome mail')} queued (`syndicate run` sends "
            f"{'it' if report.welcomed == 1 else 'them'})"
            if report.welcomed
            else ""
        )
    )


def welcome_wanted(settings: Settings, list_name: str, wanted: bool, option: str) -> bool:
    """Whether to queue welcomes on ``list_name``: ``wanted`` and the list has one; an
    explicit ``--welcome`` on a list without one is an error."""
    has = bool(settings.mailing_list(list_name).welcome)
    if wanted and not has and option == "--welcome":
        err.print(
            f"error: {list_name} sends no welcome mail: set lists.{list_name}.welcome in "
            "syndicate.toml first (or leave out --welcome)",
            markup=False,
        )
        sys.exit(2)
    return wanted and has


def print_notices(report: ImportReport, shown: str) -> None:
    """Print each existing subscriber a row changed, or whose stored values it kept."""
    for notice in report.notices:
        err.print(
            f"{shown}:{notice.line}: {display_address(notice.email)}: {notice.text}", markup=False
        )
