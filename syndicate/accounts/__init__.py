"""Admin accounts of the web desk: passwords (Argon2id), TOTP, sealed secrets, sessions and
the sign-in backoff. Used by ``syndicate admin`` (cli/admin_users.py) and /admin/ (web/admin/)."""
