"""Delivery: the per-recipient ledger, transports (SMTP, Maildir), retries, DKIM."""
