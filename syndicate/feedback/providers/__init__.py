"""Provider webhooks: Amazon SES (via SNS), Postmark, Mailgun, SendGrid.

One module per provider, each a reader behind one interface (:class:`base.Reader`):
``read(request, env, now) -> list[Feedback]``, or :class:`base.Refused` with the HTTP
status to answer. ``registry.readers()`` gives them by name; ``syndicate.web.webhooks``
serves them at ``POST /webhooks/<name>``.
"""
