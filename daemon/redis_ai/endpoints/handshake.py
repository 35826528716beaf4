"""Mutual proof of the discovery file's token, so that neither side ever sends the token itself.

Whoever listens on a loopback port is not necessarily our daemon: once the daemon is gone, any
local user can bind its old port. So the editor sends a fresh nonce first (``challenge``), the
daemon answers with its own nonce and ``proof("daemon", client_nonce, daemon_nonce)``, the editor
checks it with the token it read from the 0600 discovery file, and only then proves itself in
``hello`` with ``proof("client", daemon_nonce, client_nonce)``. The role names keep one side's
proof from ever serving as the other's. docs/protocol.md, "Handshake", is the contract.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

NONCE = re.compile(r"^[0-9a-f]{32,128}$")


def new_nonce() -> str:
    """A fresh random nonce: 32 lowercase hex digits (128 bits)."""
    return secrets.token_hex(16)


def proof(token: str, role: str, first: str, second: str) -> str:
    """HMAC-SHA256 keyed with the token's UTF-8 bytes over ``"ROLE:FIRST:SECOND"``, in hex."""
    message = f"{role}:{first}:{second}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def valid(expected: str, given: object) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
