"""Subscribers and lists: addresses, CSV import/export, tokens."""
