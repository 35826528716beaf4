"""Exceptions raised by redis-ai.

    RedisAIError
     +-- BadEvent        an editor sent something that is not a valid event or message
     +-- DaemonNotFound  no running daemon was found in the runtime folder
     +-- DaemonRunning   another daemon already runs in the runtime folder or on the data folder
"""

from __future__ import annotations


class RedisAIError(Exception):
    """Base of every error redis-ai raises on purpose."""


class BadEvent(RedisAIError):
    """A client sent a message that does not fit the protocol; ``code`` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_push(self, ref: object = None) -> dict[str, object]:
        """The ``error`` push that tells the client what was wrong."""
        return {"type": "error", "code": self.code, "message": self.message, "ref": ref}


class DaemonNotFound(RedisAIError):
    """No running daemon: its discovery file is missing or stale."""


class DaemonRunning(RedisAIError):
    """A daemon is already running in this runtime folder, or uses this data folder."""
