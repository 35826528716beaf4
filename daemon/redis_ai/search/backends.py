"""The two ways to find the vectors nearest to a query among the chunk hashes.

``SearchModule``: the search module's HNSW index over the hashes (Redis 8, or Redis Stack),
queried with ``FT.SEARCH ... KNN``, the ``root`` filter a TAG pre-filter. ``Scan``: any Redis;
every vector is read once (pipelined HMGETs) into a numpy matrix kept until the chunks change,
and a query is one matrix-vector product. Both answer Hits, best first, scored by cosine.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis

from .. import keys

FIELDS = ("file", "start_line", "end_line", "name", "preview")
"""The chunk fields a hit shows."""
MODEL_FIELD = {"vec": "model", "svec": "smodel"}
"""Each vector field of a chunk and the field naming the model that made it."""
_BATCH = 500


@dataclass
class Hit:
    """One search answer: where the chunk is, what it is called, how well it matched."""

    file: str
    line: int
    end_line: int
    name: str
    score: float
    preview: str
    id: str = ""
    """The chunk's id, for the reordering; editors are not sent it."""

    def as_dict(self) -> dict[str, Any]:
        """The hit as the protocol's ``search`` method answers it."""
        return {"file": self.file, "line": self.line, "end_line": self.end_line, "name": self.name,
                "score": round(self.score, 4), "preview": self.preview}


def text(value: Any) -> str:
    """A reply's bytes (or str, or None) as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


class SearchModule:
    """The search module's vector index over the chunk hashes."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._dims: list[int] = []

    def ensure(self, dim: int, static_dim: int = 0) -> None:
        """Create the index, or make it again if its vector fields are not ``vec`` of ``dim``
        and (when ``static_dim``) ``svec`` of ``static_dim``: the pretrained embedder's two."""
        wanted = [d for d in (dim, static_dim) if d]
        if self._dims == wanted:
            return
        try:
            info = self.redis.execute_command("FT.INFO", keys.CODE_SEARCH_INDEX)
        except redis.ResponseError:
            info = None
        # An index made before `scope` was case-sensitive is made again too: file paths differ
        # by case, and a tag that ignores it lets a `root` filter match the wrong folder.
        if info is not None and index_dims(info) == wanted and _mentions(info, "CASESENSITIVE"):
            self._dims = wanted
            return
        if info is not None:
            # Dropping the index keeps the hashes; the new one indexes them again.
            self.redis.execute_command("FT.DROPINDEX", keys.CODE_SEARCH_INDEX)
        vectors: list[str] = []
        for name, size in (("vec", dim), ("svec", static_dim)):
            if size:
                vectors += [name, "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(size),
                            "DISTANCE_METRIC", "COSINE"]
        self.redis.execute_command(
            "FT.CREATE", keys.CODE_SEARCH_INDEX, "ON", "HASH", "PREFIX", "1", keys.CODE_CHUNK_PREFIX,
            "SCHEMA", "name", "TEXT", "language", "TAG", "scope", "TAG", "SEPARATOR", "|",
            "CASESENSITIVE", *vectors)
        self._dims = wanted
        self._wait_indexed()

    def _wait_indexed(self, timeout: float = 60.0) -> None:
        """Wait while the new index takes in the hashes that were already there (the module
        does that in the background, and a query meanwhile sees only part of them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.redis.execute_command("FT.INFO", keys.CODE_SEARCH_INDEX)
            fields = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=False))
            indexing = fields.get(b"indexing", fields.get("indexing", 0))
            if not int(indexing or 0):
                return
            time.sleep(0.02)

    def nearest(self, vector: np.ndarray, k: int, root: str | None,
                field: str = "vec") -> list[Hit]:
        """The ``k`` chunks whose vector ``field`` is nearest to ``vector``, under ``root``."""
        where = f"@scope:{{{_escape_tag(root)}}}" if root else "*"
        reply = self.redis.execute_command(
            "FT.SEARCH", keys.CODE_SEARCH_INDEX, f"{where}=>[KNN {k} @{field} $blob AS dist]",
            "PARAMS", "2", "blob", vector.astype(np.float32).tobytes(), "SORTBY", "dist", "ASC",
            "RETURN", str(len(FIELDS) + 1), *FIELDS, "dist", "LIMIT", "0", str(k),
            "DIALECT", "2")
        hits = []
        for key, doc in documents(reply):
            hits.append(Hit(file=text(doc.get("file")), line=int(doc.get("start_line") or 0),
                            end_line=int(doc.get("end_line") or 0), name=text(doc.get("name")),
                            score=1.0 - float(doc.get("dist") or 1.0),
                            preview=text(doc.get("preview")),
                            id=key.removeprefix(keys.CODE_CHUNK_PREFIX)))
        return hits


@dataclass
class _Matrix:
    """The scan backend's copy of every vector, valid while the generation token is unchanged."""

    generation: bytes | None
    model: str
    column: str
    """The chunk field the vectors come from (``vec`` or ``svec``)."""
    vectors: np.ndarray
    meta: list[tuple[str, int, int, str, str, str]] = field(default_factory=list)


class Scan:
    """Every vector made by one model, in process; re-read when the chunks change."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._lock = threading.Lock()
        self._matrices: dict[str, _Matrix] = {}

    def nearest(self, model_id: str, dim: int, vector: np.ndarray, k: int,
                root: str | None, field: str = "vec") -> list[Hit]:
        """The ``k`` chunks whose vector ``field``, made by model ``model_id``, is nearest to
        ``vector``."""
        matrix = self._load(model_id, dim, field)
        if not matrix.meta:
            return []
        scores = matrix.vectors @ vector
        if root:
            inside = np.array([m[0] == root or m[0].startswith(root.rstrip("/") + "/")
                               for m in matrix.meta])
            scores = np.where(inside, scores, -np.inf)
        top = np.argpartition(-scores, min(k, len(scores)) - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [Hit(file=m[0], line=m[1], end_line=m[2], name=m[3], score=float(scores[i]),
                    preview=m[4], id=m[5])
                for i in top if np.isfinite(scores[i]) for m in (matrix.meta[i],)]

    def _load(self, model_id: str, dim: int, field: str) -> _Matrix:
        generation: Any = self.redis.get(keys.CODE_GENERATION)
        with self._lock:
            cached = self._matrices.get(field)
        if cached is not None and cached.generation == generation and cached.model == model_id:
            return cached
        ids = [text(c) for c in self.redis.smembers(keys.CODE_CHUNKS)]
        rows: list[bytes] = []
        meta: list[tuple[str, int, int, str, str, str]] = []
        for start in range(0, len(ids), _BATCH):
            batch = ids[start:start + _BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for cid in batch:
                pipe.hmget(keys.code_chunk(cid), field, MODEL_FIELD[field], *FIELDS)
            for cid, (vec, made_by, file, first, last, name, prev) in zip(
                    batch, pipe.execute(), strict=True):
                if vec is None or text(made_by) != model_id:
                    continue
                rows.append(vec)
                meta.append((text(file), int(first), int(last), text(name), text(prev), cid))
        vectors = (np.frombuffer(b"".join(rows), dtype=np.float32).reshape(-1, dim)
                   if rows else np.zeros((0, dim), dtype=np.float32))
        matrix = _Matrix(generation, model_id, field, vectors, meta)
        with self._lock:
            self._matrices[field] = matrix
        return matrix


def _escape_tag(value: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in value)


def index_dims(info: Any) -> list[int]:
    """The vector fields' DIMs in an FT.INFO reply (RESP2 flat lists or RESP3 maps), in the
    order of the schema."""
    found: list[int] = []
    stack = [info]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            for key, value in item.items():
                if text(key).lower() == "dim":
                    found.append(int(value))
                else:
                    stack.append(value)
        elif isinstance(item, (list, tuple)):
            for i, value in enumerate(item):
                if text(value).lower() == "dim" and i + 1 < len(item):
                    found.append(int(item[i + 1]))
                if isinstance(value, (list, tuple, dict)):
                    stack.append(value)
    return found


def _mentions(info: Any, word: str) -> bool:
    """Whether ``word`` appears anywhere in an FT.INFO reply (RESP2 or RESP3)."""
    stack = [info]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (bytes, str)) and text(item).upper() == word:
            return True
    return False


def documents(reply: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key, map of field -> value) of each document of an FT.SEARCH reply, RESP2 or RESP3."""
    docs = []
    if isinstance(reply, dict):
        for result in reply.get(b"results") or reply.get("results") or []:
            attrs = result.get(b"extra_attributes") or result.get("extra_attributes") or {}
            key = result.get(b"id") or result.get("id")
            docs.append((text(key), {text(k): v for k, v in attrs.items()}))
        return docs
    for i in range(1, len(reply) - 1, 2):
        fields = reply[i + 1]
        docs.append((text(reply[i]),
                     {text(fields[j]): fields[j + 1] for j in range(0, len(fields) - 1, 2)}))
    return docs
