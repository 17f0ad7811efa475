"""The ``syndicate`` command: wiring only — parse input, call the layers, print.

Each command lives in a module of this package and is imported when it runs (see
``base.COMMANDS``), so ``syndicate send`` never loads the web stack or the feed writer.
"""

from syndicate.cli.base import main

__all__ = ["main"]
