"""The protocol's ``search`` method: check an editor's params, query the index, shape the reply."""

from __future__ import annotations

import os
from typing import Any

import redis

from ..errors import BadEvent
from .index import MAX_K, shared

MAX_QUERY = 1000
"""Longest query accepted, in characters."""


def search_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{"query", "k"?, "root"?}`` with ``{"hits", "chunks", "backend"}``
    (docs/protocol.md); raise BadEvent("bad_type" | "bad_value", ...) for unfit params."""
    if not isinstance(params, dict):
        raise BadEvent("bad_type", "search takes a map")
    query = params.get("query")
    if not isinstance(query, str):
        raise BadEvent("bad_type", "query must be a string")
    if not query.strip() or len(query) > MAX_QUERY:
        raise BadEvent("bad_value", f"query must hold 1 to {MAX_QUERY} characters, not only blanks")
    k = params.get("k", 10)
    if type(k) is not int:
        raise BadEvent("bad_type", "k must be an integer")
    if not 1 <= k <= MAX_K:
        raise BadEvent("bad_value", f"k must be between 1 and {MAX_K}")
    root = params.get("root")
    if root is not None and not isinstance(root, str):
        raise BadEvent("bad_type", "root must be a string")
    if root is not None and root and not os.path.isabs(root):
        raise BadEvent("bad_value", "root must be an absolute path")
    index = shared(client)
    # Files are indexed by their resolved path; a root given through a symlink must match them.
    hits = index.search(query, k, root=os.path.realpath(root) if root else None)
    return {"hits": [hit.as_dict() for hit in hits], "chunks": index.count(),
            "backend": index.backend}
