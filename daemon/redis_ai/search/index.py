"""The code index in Redis: chunks as hashes, the embedder beside them, and search.

Each chunk is a hash under ``keys.CODE_CHUNK_PREFIX`` holding its place, a preview, its text
and its vector; a set per file holds its chunks' ids, so re-indexing a file replaces them in one
transaction. The embedder (a learned embed.Model, or a registry model's endpoint) is stored in
Redis too, so every process that indexes or searches uses the same one. A search asks one of
the two backends (backends.py) for candidates and reorders them by the query's own words.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import textwrap
import threading
import time
import weakref
import zlib
from typing import Any

import numpy as np
import redis

from .. import keys
from ..models import registry
from ..progress import Progress, quiet
from ..store.connection import capabilities
from ..store.scripts import queue_eval
from . import embed, encoder, lexical, pretrained, remote
from .backends import FIELDS, Hit, Scan, SearchModule
from .backends import text as _text
from .chunks import Chunk, chunk_file, embed_text

Embedder = pretrained.Pretrained | embed.Model | remote.RemoteEmbedder
"""What makes the vectors: the pretrained encoder (the default), the model learned from the
code, or a registry model's endpoint."""

KINDS = ("pretrained", "learned")
"""The embedders a user may choose (``redis-ai index --embedder``); a registry model offering
``embed`` goes before either."""

MAX_K = 50
PREVIEW_LINES = 4
PREVIEW_CHARS = 400
RERANK = 50
"""Candidates the vectors propose, which the lexical match then reorders."""
FUSE_CANDIDATES = 100
"""With the pretrained embedder: hits the vectors propose and hits BM25 proposes, then fused by
reciprocal rank (lexical.fuse)."""
LEXICAL_WEIGHT = 1.0
"""Weight of the lexical cosine beside the vectors' cosine in a hit's score (see ``search``)."""
LEXICAL_CACHE = 20_000
"""Chunks whose lexical vectors a process keeps (a few kB each) before it starts afresh."""
REBUILD_CHANGE = 0.2
"""The embedder is learned again when this share of the chunks it was learned from changed:
chunks written since (new or re-indexed) plus the change in their number."""

_BATCH = 500
_ENCODE_BATCH = 64
"""Chunks the encoder embeds between two writes: what an interrupted run loses at most."""
_EMBED_BATCH = 16 * remote.BATCH
"""Chunks embedded at a time while rebuilding: a whole number of a registry model's requests."""


def preview(text: str) -> str:
    """The first few non-blank lines of a chunk, dedented, for a result list."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()][:PREVIEW_LINES]
    return textwrap.dedent("\n".join(lines))[:PREVIEW_CHARS]


def default_kind() -> str:
    """``pretrained`` where its weights and tokenizer are installed, else ``learned``."""
    return "pretrained" if encoder.available() else "learned"


def content_hash(text: str) -> str:
    """What ``files()`` records per file, to skip files whose content is already indexed."""
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


def chunk_id(chunk: Chunk) -> str:
    """A stable id: the same definition at the same place keeps its id across re-indexing."""
    raw = f"{chunk.file}\0{chunk.start_line}\0{chunk.name}".encode("utf-8", "surrogateescape")
    return hashlib.sha1(raw).hexdigest()[:16]


def _scope(path: str) -> str:
    """``path`` and every folder above it, ``|``-separated: a TAG field that filters by root."""
    parts: list[str] = [path]
    folder = os.path.dirname(path)
    while folder and folder not in parts:
        parts.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return "|".join(parts)


class CodeIndex:
    """Index and search the chunks kept in one Redis. Thread-safe; one per process is enough
    (``shared``), since it caches the model and, for the scan backend, the vectors."""

    def __init__(self, client: redis.Redis, *, backend: str | None = None) -> None:
        self.redis = client
        self._backend = backend
        self._lock = threading.Lock()
        self._model: embed.Model | None = None
        self._search_module = SearchModule(client)
        self._scan = Scan(client)
        # Lexical vectors of chunks already reranked, valid for one (generation, model).
        self._lexical: dict[str, dict[str, float]] = {}
        self._lexical_of: tuple[Any, str] | None = None
        # BM25 over every chunk, valid for one generation: (generation, BM25, ids, files).
        self._bm25: tuple[Any, lexical.BM25, list[str], list[str]] | None = None

    # -- what is there ---------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """``redis-search`` where the server has the search module, else ``scan``."""
        if self._backend is None:
            self._backend = "redis-search" if capabilities(self.redis).search else "scan"
        return self._backend

    def count(self) -> int:
        """How many chunks are indexed."""
        return int(self.redis.scard(keys.CODE_CHUNKS))

    def is_indexed(self, path: str) -> bool:
        """Whether file ``path`` is indexed (in whatever version)."""
        return bool(self.redis.hexists(keys.CODE_FILES, path))

    def is_current(self, path: str, text: str) -> bool:
        """Whether ``text`` is what is indexed for ``path`` already."""
        return _text(self.redis.hget(keys.CODE_FILES, path)) == content_hash(text)

    def files(self) -> dict[str, str]:
        """Indexed file path -> hash of the content indexed."""
        return {_text(k): _text(v) for k, v in self.redis.hgetall(keys.CODE_FILES).items()}

    def model(self) -> Embedder | None:
        """The stored embedder, re-read only when another process has replaced it."""
        current = self.redis.hget(keys.CODE_MODEL, "id")
        if current is None:
            return None
        with self._lock:
            cached = self._model
        if isinstance(cached, embed.Model) and cached.id == _text(current):
            return cached
        raw: Any = self.redis.hgetall(keys.CODE_MODEL)
        if raw.get(b"kind") == b"pretrained":
            # The installed weights, whatever the stored id: needs_rebuild tells them apart.
            return pretrained.shared() if encoder.available() else None
        if raw.get(b"kind") == b"remote":
            # Read each time: the user may have changed its endpoint or removed it.
            configured = registry.get(self.redis, _text(raw.get(b"registry")))
            if configured is None:
                return None
            return remote.RemoteEmbedder(configured, _text(raw[b"id"]), int(raw[b"dim"]))
        if not raw or b"vectors" not in raw:
            return None
        dim = int(raw[b"dim"])
        model = embed.Model(
            id=_text(raw[b"id"]), words=zlib.decompress(raw[b"words"]).decode().split("\n"),
            idf=np.frombuffer(raw[b"idf"], dtype=np.float32),
            vectors=np.frombuffer(raw[b"vectors"], dtype=np.float32).reshape(-1, dim),
            mean=np.frombuffer(raw[b"mean"], dtype=np.float32), chunks=int(raw[b"chunks"]))
        with self._lock:
            self._model = model
        return model

    def pending(self) -> int:
        """How many chunks wait for their encoder vector (search answers with the static tier
        until none does)."""
        return int(self.redis.scard(keys.CODE_PENDING))

    def _stored_chunks(self) -> int:
        return int(self.redis.hget(keys.CODE_MODEL, "chunks") or 0)

    # -- writing ---------------------------------------------------------------------------
    def index_text(self, path: str, text: str, language: str,
                   model: Embedder | None = None, *, strip_docstrings: bool = False,
                   encode: bool = True) -> int:
        """Replace the chunks of file ``path`` by those of ``text``; return how many it has.

        Vectors are made with ``model`` (default: the stored one); without any model the
        chunks are stored without vectors until ``rebuild`` makes one. With the pretrained
        embedder a chunk whose text the file had already keeps its vectors (nothing is
        embedded again); a new one gets its static vector at once and its encoder vector
        after the write, or, without ``encode``, waits for ``encode_pending``.
        ``strip_docstrings`` is chunks.chunk_file's (for the benchmark).
        """
        model = model or self.model()
        chunks = chunk_file(path, text, language, strip_docstrings=strip_docstrings)
        ids = [chunk_id(chunk) for chunk in chunks]
        mappings: list[dict[str, Any]] = [{
            "file": chunk.file, "start_line": chunk.start_line, "end_line": chunk.end_line,
            "name": chunk.name, "kind": chunk.kind, "language": chunk.language,
            "scope": _scope(chunk.file), "preview": preview(chunk.text), "text": chunk.text,
            "hash": content_hash(embed_text(chunk)),
        } for chunk in chunks]
        pending: list[str] = []
        if isinstance(model, pretrained.Pretrained):
            pending = self._pretrained_vectors(model, path, chunks, ids, mappings)
        elif model is not None:
            vectors = model.embed([c.text for c in chunks], [c.name for c in chunks])
            for mapping, vector in zip(mappings, vectors, strict=True):
                if vector.any():
                    mapping.update(vec=vector.tobytes(), model=model.id)

        def write(pipe: Any, old: Any) -> None:
            self._remove(pipe, path, old)
            for cid, mapping in zip(ids, mappings, strict=True):
                pipe.hset(keys.code_chunk(cid), mapping=mapping)
            if ids:
                pipe.sadd(keys.CODE_CHUNKS, *ids)
                pipe.sadd(keys.code_file(path), *ids)
            if pending:
                pipe.sadd(keys.CODE_PENDING, *pending)
            pipe.hset(keys.CODE_FILES, path, content_hash(text))
            if model is not None:
                pipe.hincrby(keys.CODE_MODEL, "changed", len(chunks))
            pipe.set(keys.CODE_GENERATION, secrets.token_hex(8))

        self._replace(path, write)
        if model is not None:
            self._ensure_index(model)
        if pending and encode and isinstance(model, pretrained.Pretrained):
            self.encode_pending(model, pending)
        return len(chunks)

    def _pretrained_vectors(self, model: pretrained.Pretrained, path: str, chunks: list[Chunk],
                            ids: list[str], mappings: list[dict[str, Any]]) -> list[str]:
        """Fill in the vectors of a file's chunks: those of its old chunks of the same text
        where there are some, else static ones now; return the ids still to be encoded."""
        old = [_text(c) for c in self.redis.smembers(keys.code_file(path))]
        kept: dict[str, tuple[Any, Any]] = {}
        if old:
            pipe = self.redis.pipeline(transaction=False)
            for cid in old:
                pipe.hmget(keys.code_chunk(cid), "hash", "vec", "model", "svec", "smodel")
            for digest, vec, made_by, svec, static_by in pipe.execute():
                if vec is not None and _text(made_by) == model.id:
                    kept[_text(digest)] = (vec, svec if _text(static_by) == model.static.id else None)
        fresh = [i for i, m in enumerate(mappings) if m["hash"] not in kept]
        statics = model.embed_static([embed_text(chunks[i]) for i in fresh])
        pending = []
        for i, mapping in enumerate(mappings):
            vec, svec = kept.get(mapping["hash"], (None, None))
            if vec is not None:
                mapping.update(vec=vec, model=model.id)
            else:
                pending.append(ids[i])
            if svec is not None:
                mapping.update(svec=svec, smodel=model.static.id)
        for row, i in enumerate(fresh):
            if statics[row].any():
                mappings[i].update(svec=statics[row].tobytes(), smodel=model.static.id)
        return pending

    def encode_pending(self, model: pretrained.Pretrained, ids: list[str] | None = None, *,
                       progress: Progress = quiet) -> int:
        """Give the chunks waiting in CODE_PENDING (or only ``ids`` of them) their encoder
        vectors, a batch at a time, each batch written as it is done: interrupted, the next
        call goes on where this one stopped. Returns how many were encoded."""
        todo = sorted(_text(c) for c in self.redis.smembers(keys.CODE_PENDING)) if ids is None else ids
        done = 0
        for start in range(0, len(todo), _ENCODE_BATCH):
            progress("encoding chunks", start, len(todo))
            batch = todo[start:start + _ENCODE_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for cid in batch:
                pipe.hmget(keys.code_chunk(cid), "text", "name", "hash")
            rows = pipe.execute()
            live = [(cid, row) for cid, row in zip(batch, rows, strict=True) if row[0] is not None]
            texts = [f"{_text(name)}\n{_text(text)}" for _cid, (text, name, _h) in live]
            vectors = model.embed(texts)
            pipe = self.redis.pipeline(transaction=False)
            for (cid, (_t, _n, digest)), vector in zip(live, vectors, strict=True):
                # Only if the chunk still holds that text: a save meanwhile replaced it.
                queue_eval(pipe, _SET_IF_SAME, [keys.code_chunk(cid)],
                           [_text(digest), vector.tobytes(), model.id])
            pipe.srem(keys.CODE_PENDING, *batch)
            pipe.execute()
            done += len(live)
        # Encoder vectors are read only once none is pending, so the scan backend's cache is
        # invalidated once, here, not after every batch (which would also rebuild BM25).
        if todo:
            self.redis.set(keys.CODE_GENERATION, secrets.token_hex(8))
        progress("encoding chunks", len(todo), len(todo))
        return done

    def remove(self, path: str) -> bool:
        """Forget file ``path`` and its chunks; False if it was not indexed."""
        def write(pipe: Any, old: Any) -> None:
            self._remove(pipe, path, old)
            pipe.hdel(keys.CODE_FILES, path)
            pipe.set(keys.CODE_GENERATION, secrets.token_hex(8))

        return bool(self._replace(path, write)[-2])

    def _replace(self, path: str, write: Any) -> list[Any]:
        """Run ``write(pipe, old chunk ids of path)`` as one transaction, again if another
        writer changed the file's chunks meanwhile (``redis-ai index`` and the code_index
        analyzer may both write a file): otherwise both would delete the same old chunks and
        the first writer's new ones would stay behind, unreachable."""
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.code_file(path))
                    old = pipe.smembers(keys.code_file(path))
                    pipe.multi()
                    write(pipe, old)
                    return pipe.execute()
                except redis.WatchError:
                    continue

    @staticmethod
    def _remove(pipe: Any, path: str, old: Any) -> None:
        if old:
            pipe.delete(*(keys.code_chunk(_text(cid)) for cid in old))
            pipe.srem(keys.CODE_CHUNKS, *old)
            pipe.srem(keys.CODE_PENDING, *old)
        pipe.delete(keys.code_file(path))

    def kind(self) -> str:
        """The stored embedder's kind (``pretrained``, ``learned`` or ``remote``), else ""."""
        return _text(self.redis.hget(keys.CODE_MODEL, "kind"))

    def needs_rebuild(self, kind: str | None = None) -> bool:
        """Whether there is no model yet, or another ``kind`` is wanted (default: the stored
        one, else default_kind()), or the installed encoder is not the one the vectors were
        made with, or a learned model's corpus changed by REBUILD_CHANGE, or a registry model
        offering ``embed`` appeared, went or was replaced."""
        model = self.model()
        count = self.count()
        if model is None:
            return count > 0
        wanted = remote.configured(self.redis)
        if isinstance(model, remote.RemoteEmbedder):
            if wanted is None or wanted.id != model.model.id:
                return True
        elif wanted is not None:
            return True
        if kind is not None and kind != self.kind():
            return True
        if isinstance(model, pretrained.Pretrained):
            return _text(self.redis.hget(keys.CODE_MODEL, "id")) != model.id
        chunks = self._stored_chunks()
        changed = int(self.redis.hget(keys.CODE_MODEL, "changed") or 0)
        return changed + abs(count - chunks) > REBUILD_CHANGE * max(1, chunks)

    def rebuild(self, dim: int = embed.DIM, *, kind: str | None = None,
                progress: Progress = quiet) -> Embedder:
        """Make the embedder again from every stored chunk, store it, and re-embed every chunk:
        the registry's ``embed`` model when there is one, else ``kind`` (default: the stored
        kind, else default_kind()): the pretrained encoder (static vectors now, every chunk
        then pending for encode_pending) or a model learned from the chunks (of ``dim``
        dimensions). ``progress`` hears of each phase as it goes."""
        kind = kind or (self.kind() if self.kind() in KINDS else default_kind())
        ids = sorted(_text(c) for c in self.redis.smembers(keys.CODE_CHUNKS))
        texts: list[str] = []
        names: list[str] = []
        for start in range(0, len(ids), _BATCH):
            progress("reading chunks", start, len(ids))
            pipe = self.redis.pipeline(transaction=False)
            for cid in ids[start:start + _BATCH]:
                pipe.hmget(keys.code_chunk(cid), "text", "name")
            for text, name in pipe.execute():
                texts.append(_text(text))
                names.append(_text(name))
        configured = remote.configured(self.redis)
        model: Embedder
        if configured is not None:
            model = remote.RemoteEmbedder(configured, f"remote-{secrets.token_hex(6)}")
            vectors = _embed_all(model, texts, names, progress)
            self._store_model(model, len(texts))
        elif kind == "pretrained":
            return self._rebuild_pretrained(ids, texts, names, progress)
        else:
            progress("learning the embedder from chunks", 0, len(texts))
            model = embed.learn(texts, dim)
            progress("learning the embedder from chunks", len(texts), len(texts))
            self._store_model(model, len(texts))
            vectors = _embed_all(model, texts, names, progress)
        # An index made now takes each vector as it is written, rather than in a background
        # scan afterwards.
        self._ensure_index(model)
        for start in range(0, len(ids), _BATCH):
            progress("writing vectors of chunks", start, len(ids))
            pipe = self.redis.pipeline(transaction=False)
            for cid, vec in zip(ids[start:start + _BATCH], vectors[start:start + _BATCH],
                                strict=True):
                key = keys.code_chunk(cid)
                if vec.any():
                    pipe.hset(key, mapping={"vec": vec.tobytes(), "model": model.id})
                else:
                    pipe.hdel(key, "vec", "model")
                pipe.hdel(key, "svec", "smodel")
            pipe.execute()
        progress("writing vectors of chunks", len(ids), len(ids))
        self.redis.delete(keys.CODE_PENDING)
        self.redis.set(keys.CODE_GENERATION, secrets.token_hex(8))
        return model

    def _rebuild_pretrained(self, ids: list[str], texts: list[str], names: list[str],
                            progress: Progress) -> pretrained.Pretrained:
        """Every chunk's static vector now, and every chunk pending for its encoder vector."""
        model = pretrained.shared()
        full = [f"{name}\n{text}" for text, name in zip(texts, names, strict=True)]
        progress("distilling the static tier", 0, None)
        model.static.ensure(full, progress)
        self._store_model(model, len(ids))
        self._ensure_index(model)
        for start in range(0, len(ids), _BATCH):
            progress("writing static vectors of chunks", start, len(ids))
            batch = ids[start:start + _BATCH]
            vectors = model.embed_static(full[start:start + _BATCH])
            pipe = self.redis.pipeline(transaction=False)
            for cid, vec in zip(batch, vectors, strict=True):
                key = keys.code_chunk(cid)
                pipe.hdel(key, "vec", "model")
                if vec.any():
                    pipe.hset(key, mapping={"svec": vec.tobytes(), "smodel": model.static.id})
            if batch:
                pipe.sadd(keys.CODE_PENDING, *batch)
            pipe.execute()
        progress("writing static vectors of chunks", len(ids), len(ids))
        model.static.save()
        self.redis.set(keys.CODE_GENERATION, secrets.token_hex(8))
        return model

    def _store_model(self, model: Embedder, chunks: int) -> None:
        fields: Any  # (redis-py's stubs take no dict[str, Any] for a mapping)
        if isinstance(model, remote.RemoteEmbedder):
            fields = {"kind": "remote", "registry": model.model.id}
        elif isinstance(model, pretrained.Pretrained):
            fields = {"kind": "pretrained", "static": model.static.id,
                      "static_dim": model.static_dim}
        else:
            fields = {
                "kind": "learned",
                "words": zlib.compress("\n".join(model.words).encode()),
                "idf": model.idf.astype(np.float32).tobytes(),
                "vectors": np.ascontiguousarray(model.vectors, dtype=np.float32).tobytes(),
                "mean": model.mean.astype(np.float32).tobytes(),
            }
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.CODE_MODEL)
        # "id" last: readers take the model by its id, and the pipeline is one transaction.
        pipe.hset(keys.CODE_MODEL, mapping={**fields, "dim": model.dim, "chunks": chunks,
                                            "built": time.time(), "id": model.id})
        pipe.execute()
        if isinstance(model, embed.Model):
            with self._lock:
                self._model = model

    def _ensure_index(self, model: Embedder) -> None:
        if self.backend == "redis-search":
            static_dim = model.static_dim if isinstance(model, pretrained.Pretrained) else 0
            self._search_module.ensure(model.dim, static_dim)

    # -- reading ---------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, root: str | None = None, *,
               rerank: bool = True) -> list[Hit]:
        """The ``k`` chunks nearest to ``query``, best first, only under path ``root`` if given.

        The vectors propose RERANK candidates (the search module's KNN, or the scan); their
        score is then the mean of the vectors' cosine and the lexical cosine (TF-IDF of the
        same subtokens, weighted by LEXICAL_WEIGHT), which puts a chunk that uses the query's
        own words above one that is only about the same thing. With the pretrained embedder
        the vectors propose FUSE_CANDIDATES, BM25 as many, fused by reciprocal rank (the score
        is then the fused one: 1/61 + 1/61 at best). ``rerank=False`` keeps the vectors'
        order and cosine (the benchmark compares both).
        """
        model = self.model()
        if model is None:
            return []
        field, model_id, dim = "vec", model.id, model.dim
        if isinstance(model, pretrained.Pretrained) and self.pending():
            # Some chunks have no encoder vector yet: every chunk has a static one.
            field, model_id, dim = "svec", model.static.id, model.static_dim
            vector = model.embed_static([query])[0]
        elif isinstance(model, pretrained.Pretrained):
            vector = model.encoder.embed_query(query)  # not kept: the cache is for chunks
        else:
            vector = model.embed([query])[0]
        if not vector.any():
            return []  # no word of the query is known to the model: nothing is near it
        k = max(1, min(k, MAX_K))
        # Reordering needs the learned model's IDF; the pretrained one fuses with BM25;
        # a registry model's vectors answer alone.
        fuse = rerank and isinstance(model, pretrained.Pretrained)
        rerank = rerank and isinstance(model, embed.Model)
        wanted = max(k, RERANK) if rerank else FUSE_CANDIDATES if fuse else k
        if self.backend == "redis-search":
            self._ensure_index(model)
            hits = self._search_module.nearest(vector, wanted, root, field)
        else:
            hits = self._scan.nearest(model_id, dim, vector, wanted, root, field)
        if rerank and isinstance(model, embed.Model):
            hits = self._rerank(model, embed.subtokens(query), hits)
        elif fuse:
            hits = self._fused(query, k, root, hits, static=field == "svec")
        return hits[:k]

    def _fused(self, query: str, k: int, root: str | None, vector_hits: list[Hit],
               static: bool = False) -> list[Hit]:
        """The vectors' hits and BM25's, fused by reciprocal rank; the score is the fused one.
        With the ``static`` tier's hits, BM25's come first and the static ones after them: on
        the developer questions the static tier fused with BM25 (MRR 0.43) ranks below BM25
        alone (0.49), but it still answers a query none of whose words the code uses."""
        _generation, bm25, ids, files = self._bm25_index()
        scores = bm25.scores(embed.subtokens(query))
        if root:
            prefix = root.rstrip("/") + "/"
            scores *= np.array([f == root or f.startswith(prefix) for f in files], dtype=bool)
        top = np.argsort(-scores, kind="stable")[:FUSE_CANDIDATES]
        words = [ids[i] for i in top if scores[i] > 0]
        known = {hit.id: hit for hit in vector_hits}
        if static:
            seen = set(words)
            order = words + [hit.id for hit in vector_hits if hit.id not in seen]
            fused = [(cid, 1.0 / (lexical.RRF_K + rank)) for rank, cid in enumerate(order[:k], 1)]
        else:
            fused = lexical.fuse([hit.id for hit in vector_hits], words)[:k]
        missing = [cid for cid, _ in fused if cid not in known]
        if missing:
            pipe = self.redis.pipeline(transaction=False)
            for cid in missing:
                pipe.hmget(keys.code_chunk(cid), *FIELDS)
            for cid, (file, first, last, name, prev) in zip(missing, pipe.execute(), strict=True):
                if file is not None:
                    known[cid] = Hit(file=_text(file), line=int(first), end_line=int(last),
                                     name=_text(name), score=0.0, preview=_text(prev), id=cid)
        out = []
        for cid, score in fused:
            hit = known.get(cid)
            if hit is not None:
                hit.score = score
                out.append(hit)
        return out

    def _bm25_index(self) -> tuple[Any, lexical.BM25, list[str], list[str]]:
        """BM25 over every chunk, made again when the chunks changed (the generation token)."""
        generation = self.redis.get(keys.CODE_GENERATION)
        with self._lock:
            cached = self._bm25
        if cached is not None and cached[0] == generation:
            return cached
        ids = sorted(_text(c) for c in self.redis.smembers(keys.CODE_CHUNKS))
        docs: list[list[str]] = []
        files: list[str] = []
        for start in range(0, len(ids), _BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for cid in ids[start:start + _BATCH]:
                pipe.hmget(keys.code_chunk(cid), "text", "name", "file")
            for text, name, file in pipe.execute():
                docs.append(lexical.document(_text(text), _text(name)))
                files.append(_text(file))
        built = (generation, lexical.BM25(docs), ids, files)
        with self._lock:
            self._bm25 = built
        return built

    def _rerank(self, model: embed.Model, tokens: list[str], hits: list[Hit]) -> list[Hit]:
        chunks = self._lexical_vectors(model, [hit.id for hit in hits])
        query = model.lexical(tokens)
        for hit in hits:
            chunk = chunks.get(hit.id, {})
            lexical = sum(w * chunk.get(t, 0.0) for t, w in query.items())
            hit.score = (hit.score + LEXICAL_WEIGHT * lexical) / (1.0 + LEXICAL_WEIGHT)
        return sorted(hits, key=lambda h: -h.score)

    def _lexical_vectors(self, model: embed.Model, ids: list[str]) -> dict[str, dict[str, float]]:
        """The chunks' lexical vectors, from the cache or from their stored text."""
        valid = (self.redis.get(keys.CODE_GENERATION), model.id)
        with self._lock:
            if self._lexical_of != valid or len(self._lexical) > LEXICAL_CACHE:
                self._lexical, self._lexical_of = {}, valid
            cache = self._lexical
            missing = [cid for cid in ids if cid not in cache]
        if missing:
            pipe = self.redis.pipeline(transaction=False)
            for cid in missing:
                pipe.hmget(keys.code_chunk(cid), "text", "name")
            for cid, (text, name) in zip(missing, pipe.execute(), strict=True):
                cache[cid] = model.lexical(embed.subtokens(_text(text)) +
                                           embed.subtokens(_text(name)) * 2)
        return {cid: cache[cid] for cid in ids if cid in cache}


def _embed_all(model: Embedder, texts: list[str], names: list[str],
               progress: Progress) -> np.ndarray:
    """``model.embed(texts, names)``, a batch at a time so that ``progress`` can follow."""
    rows = []
    for start in range(0, len(texts), _EMBED_BATCH):
        progress("embedding chunks", start, len(texts))
        rows.append(model.embed(texts[start:start + _EMBED_BATCH], names[start:start + _EMBED_BATCH]))
    progress("embedding chunks", len(texts), len(texts))
    return np.vstack(rows) if rows else model.embed([], [])


_SET_IF_SAME = """
if redis.call('HGET', KEYS[1], 'hash') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'vec', ARGV[2], 'model', ARGV[3])
end
return 0
"""
"""Store an encoder vector on a chunk only if the chunk still holds the text it was made from."""


_SHARED: weakref.WeakKeyDictionary[redis.Redis, CodeIndex] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared(client: redis.Redis) -> CodeIndex:
    """The process's CodeIndex for ``client``, so its caches serve every caller."""
    with _SHARED_LOCK:
        index = _SHARED.get(client)
        if index is None:
            index = _SHARED[client] = CodeIndex(client)
        return index
