"""How ``[[webhooks]]`` configuration mistakes are named (one way, with the field) and what
``syndicate check`` exits with for them, next to the rest of its checks."""

from __future__ import annotations

import pytest

from syndicate.config import parse_config
from syndicate.config.webhooks import new_secret, secret_problem
from tests.conftest import Site
from tests.test_events_record import BASE, cli, problems


def test_every_webhook_message_names_the_endpoint_one_way(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[[webhooks]] #N (name "…")`` and the field, whether pydantic, the duplicate check or
    the secret check found it; ``check`` exits 2 for a syndicate.toml that does not validate
    (as for any section) and 1 for a valid one whose secret is missing from the environment
    (as for the IMAP password)."""
    first = '[[webhooks]]\nurl = "https://a.test/x"\nevents = ["*"]\nsecret_env = "A"\n'
    crm = '[[webhooks]]\nname = "crm"\nurl = "https://h.test/x"\nevents = ["*"]\nsecret_env = "S"\n'
    assert problems(first + crm + "timeout = 0\n") == [
        'syndicate.toml: [[webhooks]] #2 (name "crm"): timeout: input should be greater than 0, '
        "got 0"
    ]
    assert problems(first + crm.replace('"*"', '"nope"'))[0].startswith(
        "syndicate.toml: [[webhooks]] #2 (name \"crm\"): events: unknown event 'nope'"
    )
    assert problems(first + crm.replace('url = "https://h.test/x"\n', ""))[0] == (
        'syndicate.toml: [[webhooks]] #2 (name "crm"): url: is required but missing'
    )
    _, hook = parse_config(BASE + first + crm).webhooks
    assert secret_problem(hook, {}) is not None
    assert str(secret_problem(hook, {})).startswith(
        'syndicate.toml: [[webhooks]] #2 (name "crm"): secret_env: S is not set'
    )
    monkeypatch.setenv("A", new_secret())
    monkeypatch.delenv("S", raising=False)
    site.configure(first + crm + "timeout = 0\n")
    code, _, err = cli(site, "check", "--offline")
    assert code == 2 and '[[webhooks]] #2 (name "crm"): timeout:' in err
    site.configure(first + crm)
    code, _, err = cli(site, "check", "--offline")
    assert code == 1 and '[[webhooks]] #2 (name "crm"): secret_env: S is not set' in err
