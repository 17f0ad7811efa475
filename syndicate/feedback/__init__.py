"""The feedback loop: bounces and complaints that arrive after a send (issue 14).

Intake (a mailbox, an inbound listener, a provider webhook, ``bounces import``) turns each
message or event into :class:`~syndicate.feedback.report.Feedback` values; ``intake.take``
records them, matches them to deliveries and applies the policy.
"""
