"""Social media mentions: X, Mastodon and Weibo, answered where they were written.

One module per platform (``x``, ``mastodon``, ``weibo``); what they share lives in ``poller``
(errors, rate-limit windows, backoff, the poll loop), ``mentions`` (the adapter base: lease,
cursors, delivery, spike marking), ``textlen`` (length rules), ``spike`` (mention volume and
alerts) and ``oauth1`` (X request signing). Setup guide: docs/channels/social.md.
"""
