"""Events out, pulled: the public, versioned shape of every published event, and the feed.

``public`` declares the shapes (one typed model per event type), ``render`` turns a stored
internal event into that shape, ``reader`` pages through the notification log with filters,
and ``signal`` wakes long-polling readers when something is committed. Nothing here writes.
"""
