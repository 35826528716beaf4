"""A small cache of computed values kept in Redis with an expiry."""

import json


def cached(client, key, compute, ttl=60):
    """Return the cached value of key from Redis, computing and storing it when missing."""
    raw = client.get(key)
    if raw is not None:
        return json.loads(raw)
    value = compute()
    client.set(key, json.dumps(value), ex=ttl)
    return value


def invalidate(client, prefix):
    """Delete every cached key that starts with prefix."""
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
