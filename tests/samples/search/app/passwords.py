"""Storing user passwords safely."""

import hashlib
import hmac
import os


def hash_password(password, salt=None):
    """Hash a password with a random salt using PBKDF2."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000)
    return salt + digest


def check_password(password, stored):
    """Compare a password against its stored salted hash in constant time."""
    salt, digest = stored[:16], stored[16:]
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000)
    return hmac.compare_digest(candidate, digest)
