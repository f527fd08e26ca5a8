"""Events out, pushed: signed webhooks by the Standard Webhooks convention.

``signing`` makes the headers, ``sender`` posts one event with bounded timeouts and no
redirects, ``store`` keeps secrets, per-endpoint positions and recent attempts (SQLAlchemy
tables beside the events), and ``delivery`` is the process that follows the log and posts
every matching event to every endpoint, at least once, in order, each endpoint on its own.
"""
