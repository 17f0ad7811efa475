"""Benchmark hostile Markdown: how long one article takes to read, bounds included.

    python bench/markdown_worst.py [CASE ...]

Each case is one article (front matter, then a pathological body) read by
``read_markdown`` the way the content reader reads a file: bounded by ``MAX_BODY``
characters and ``MAX_BRACKETS`` ``[`` before markdown-it parses it. Printed: the case,
the body size, the seconds, the peak memory of the process so far, and what came of it.
Before the bounds a 5 MB line of ``[`` did not finish in 120 s (about 60 µs for each
``[``); inline-heavy text costs markdown-it-py up to ~10 µs a character.
"""

from __future__ import annotations

import resource
import sys
import time

from syndicate.content.markdown import MAX_BODY, MAX_BRACKETS, read_markdown
from syndicate.errors import ContentError

FIVE_MB = 5_000_000
CASES = {
    "blockquote-100k-deep": "> " * 100_000 + "x\n",
    "list-100k-deep": "- " * 100_000 + "x\n",
    "indented-list-2k": "".join("  " * i + "- x\n" for i in range(2_000)),
    "brackets-5MB": "[" * FIVE_MB + "\n",
    "stars-5MB": "*" * FIVE_MB + "\n",
    "brackets-at-limit": "[" * MAX_BRACKETS + "\n",
    "link-openers-at-limit": "[a](" * MAX_BRACKETS + "\n",
    "underscores-at-limit": ("_a " * (MAX_BODY // 3))[: MAX_BODY - 10] + "\n",
    "ampersands-at-limit": "&" * (MAX_BODY - 10) + "\n",
    "lt-at-limit": "<" * (MAX_BODY - 10) + "\n",
    "backslashes-at-limit": "\\" * (MAX_BODY - 10) + "\n",
}


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        body = CASES[name]
        start = time.perf_counter()
        try:
            entry = read_markdown("bench.md", "---\ntitle: T\n---\nIntro.\n\n" + body)
            outcome = "read" if entry is not None else "draft"
        except ContentError as exc:
            outcome = f"refused: {str(exc)[:70]}"
        took = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{name:24} {len(body):>9,} chars {took:6.2f} s {peak:5} MB  {outcome}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
