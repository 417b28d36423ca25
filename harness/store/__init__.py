"""The SQLite store: the only part of the harness that touches the database."""

from harness.store.db import Store

__all__ = ("Store",)
