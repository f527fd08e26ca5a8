"""Alembic revisions, oldest first by ``down_revision``; each is a file a reviewer reads.

To change a migrated table: change its definition where the code uses it (e.g.
``webhooks.store.webhook_tables``), then add ``vNNNN_what.py`` here with ``revision``
the next number, ``down_revision`` the previous head, and explicit ``op.add_column`` /
``op.create_table`` steps that bring every earlier shape to the new one.
``tests/integration/migrations`` fails until both agree.
"""
