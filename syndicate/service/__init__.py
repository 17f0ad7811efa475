"""``syndicate run``: the long-running service — scheduler, content polling, web app."""
