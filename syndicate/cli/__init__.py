"""The ``syndicate`` command: wiring only — parse input, call the layers, print."""

from syndicate.cli import content, digest, run, send, subscribers, worker
from syndicate.cli.base import main

__all__ = ["content", "digest", "main", "run", "send", "subscribers", "worker"]
