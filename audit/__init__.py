"""Audit: replay any booking's history, reconstruct past state, export/import the log, verify it.

Everything here reads the event store (never the read models) and never writes to it,
except ``import_events`` into an empty database.
"""
