"""Syndication feeds: articles in, RSS 2.0 / Atom 1.0 / JSON Feed 1.1 files out."""
