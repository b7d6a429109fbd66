"""Why the store could not be opened at start, in words safe to log (never a password)."""

from __future__ import annotations


class StoreError(Exception):
    """Opening the store failed; ``str()`` says why and what to do."""


class StoreMisconfigured(StoreError):
    """DATABASE_URL names a database the bot cannot use as written: waiting will not help."""


class StoreUnreachable(StoreError):
    """The database did not answer for as long as the bot waits for it at start."""
