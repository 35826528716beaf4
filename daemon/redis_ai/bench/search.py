"""Semantic code search: index time, query latency of both backends, and retrieval quality.

Two question sets. ``--set developer`` (the default): search_queries.tsv, 123 questions written
by hand, the way a developer asks ("where do we retry the connection"), in words that avoid the
answer's identifiers, over requests 2.32.3 and click 8.1.7 (sdists from PyPI, pinned, cached by
bench diagnostics' helper). Each question has its answering symbol(s); recall@1/5/10 and MRR
(of the first answer's rank, 0 past 50) are reported for BM25, the learned embedder as it used
to ship (reordered by the lexical match), the static tier, the encoder, fusions of the encoder
with BM25, and search as it ships (CodeIndex in Redis, both backends). ``--set docstrings``:
the older set below.

The older corpus is real code: the first --modules top-level modules of CPython's standard library.
Quality is measured on questions the code cannot have seen: for --queries sampled functions and
methods that have a docstring, the query is the docstring's first sentence and the answer is
that function, indexed WITHOUT its docstring (every function's docstring is left out of the
index and of what the embedder learns from). recall@1 and recall@10 count the queries whose
function is first, or among the first ten; MRR@10 is the mean of 1/rank (0 past ten). Each
backend is measured as search answers (the vectors' candidates reordered with the lexical match)
and with the vectors alone ("_vectors_only"). Beside them, a lexical baseline ranks the same chunks by the cosine of one-hot TF-IDF
vectors of the same subtokens, so the numbers have something to be read against.

``--embedder static:PATH`` measures a pretrained static model (search/static.py) on the same
chunks and queries, in process with an exact scan: alone, reordered by the lexical match as search
reorders, and averaged with the learned vectors (then reordered). Search does not use it: these
rows are how docs/search.md decided that.
"""

from __future__ import annotations

import argparse
import ast
import math
import random
import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import keys
from ..search import embed, lexical, pretrained, static
from ..search.backends import text as _text
from ..search.chunks import Chunk, chunk_file, embed_text
from ..search.corpus import index_paths
from ..search.index import RERANK, CodeIndex, Hit
from ._harness import PrivateRedis, machine, percentile
from .diagnostics import _CACHE, _sources

QUERIES = Path(__file__).with_name("search_queries.tsv")
PROJECTS = {"requests": ("requests==2.32.3", "src/requests"), "click": ("click==8.1.7", "src/click")}
"""The developer set's projects: the pinned sdist and the package folder indexed in it."""

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
_SENTENCE = re.compile(r"(?<=[.!?])\s|\n\s*\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the corpus, how many queries, the Redis to use."""
    parser.add_argument("--root", default=str(STDLIB), help="folder of Python modules")
    parser.add_argument("--modules", type=int, default=150,
                        help="top-level modules to index, in name order (default 150)")
    parser.add_argument("--queries", type=int, default=300, help="queries to ask (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the query sample")
    parser.add_argument("--redis-url", default=None,
                        help="an existing Redis (flushed!) instead of a private embedded one")
    parser.add_argument("--set", choices=("developer", "docstrings"), default="developer",
                        help="the question set (default: developer)")
    parser.add_argument("--cache", default=str(_CACHE), help="folder for the sdists")
    parser.add_argument("--embedder", default="learned",
                        help="learned (default), or static:PATH to measure a static model beside it")


def _first_sentence(doc: str) -> str:
    return " ".join(_SENTENCE.split(doc.strip(), maxsplit=1)[0].split())


def _docstring(chunk: Chunk) -> str | None:
    try:
        tree = ast.parse(textwrap.dedent(chunk.text))
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ast.get_docstring(node)
    return None


def _queries(files: list[tuple[Path, str]], count: int, seed: int) -> list[tuple[str, str, int]]:
    """(query, file, first line) for functions with a docstring of three words or more; a
    sentence that several functions share (``Return self.``) is ambiguous and left out."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path, text in files:
        for chunk in chunk_file(str(path), text, "python"):
            if chunk.kind not in ("function", "method"):
                continue
            doc = _docstring(chunk)
            query = _first_sentence(doc) if doc else ""
            if len(query.split()) >= 3:
                found.setdefault(query, []).append((chunk.file, chunk.start_line))
    unique = sorted((q, places[0][0], places[0][1]) for q, places in found.items() if len(places) == 1)
    random.Random(seed).shuffle(unique)
    return unique[:count]


class Lexical:
    """The baseline: cosine of one-hot TF-IDF vectors of subtokens (sublinear tf, names
    counted as the embedder counts them), over an inverted index."""

    def __init__(self, chunks: list[Chunk]) -> None:
        docs = [Counter(embed.subtokens(c.text) + embed.subtokens(c.name) * 2) for c in chunks]
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        n = len(docs)
        self.idf = {w: math.log((n + 1) / (d + 1)) + 1.0 for w, d in df.items()}
        self.postings: dict[str, list[tuple[int, float]]] = {}
        norms = np.zeros(n)
        for i, doc in enumerate(docs):
            for word, tf in doc.items():
                weight = (1.0 + math.log(tf)) * self.idf[word]
                self.postings.setdefault(word, []).append((i, weight))
                norms[i] += weight * weight
        self.norms = np.sqrt(np.maximum(norms, 1e-12))
        self.chunks = chunks

    def search(self, query: str, k: int) -> list[Chunk]:
        scores = np.zeros(len(self.chunks))
        for word, tf in Counter(embed.subtokens(query)).items():
            q = (1.0 + math.log(tf)) * self.idf.get(word, 0.0)
            for i, weight in self.postings.get(word, ()):
                scores[i] += q * weight
        scores /= self.norms
        top = np.argsort(-scores)[:k]
        return [self.chunks[i] for i in top if scores[i] > 0]


def _quality(ranks: list[int | None]) -> dict[str, float]:
    n = max(1, len(ranks))
    return {
        "recall_at_1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "recall_at_10": round(sum(1 for r in ranks if r is not None and r <= 10) / n, 3),
        "mrr_at_10": round(sum(1.0 / r for r in ranks if r is not None and r <= 10) / n, 3),
    }


def _rank(hits: Sequence[Hit | Chunk], file: str, line: int) -> int | None:
    for i, hit in enumerate(hits, 1):
        where = (hit.file, hit.line) if isinstance(hit, Hit) else (hit.file, hit.start_line)
        if where == (file, line):
            return i
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The figures of the question set chosen by ``--set``."""
    return run_developer(args) if args.set == "developer" else run_docstrings(args)


def run_docstrings(args: argparse.Namespace) -> dict[str, Any]:
    """Index the corpus, ask every query of both backends and of the baseline; the figures."""
    paths = sorted(p for p in Path(args.root).glob("*.py"))[: args.modules]
    files = [(p.resolve(), p.read_text(encoding="utf-8", errors="surrogateescape")) for p in paths]
    queries = _queries(files, args.queries, args.seed)
    redis_ = PrivateRedis(args.redis_url)
    client = redis_.client()
    try:
        client.flushall()
        index = CodeIndex(client)
        started = time.perf_counter()
        for path, text in files:
            index.index_text(str(path), text, "python", strip_docstrings=True)
        stored = time.perf_counter()
        model = index.rebuild()
        done = time.perf_counter()
        assert isinstance(model, embed.Model)  # a private Redis has no registry model
        chunks = index.count()
        figures: dict[str, Any] = {
            "corpus": {"modules": len(files), "chunks": chunks, "lines": sum(t.count("\n") for _, t in files),
                       "queries": len(queries), "vocabulary": len(model.words),
                       "word_vectors": len(model.vectors), "dim": model.dim},
            "index": {"seconds": round(done - started, 2),
                      "chunks_per_s": round(chunks / (done - started), 1),
                      "chunk_and_store_s": round(stored - started, 2),
                      "learn_and_embed_s": round(done - stored, 2)},
        }
        # What the code_index analyzer pays per saved file: chunk, embed, replace in Redis.
        saves = []
        for path, text in files[:: max(1, len(files) // 50)]:
            t0 = time.perf_counter()
            index.index_text(str(path), text, "python", model, strip_docstrings=True)
            saves.append((time.perf_counter() - t0) * 1000)
        figures["index"].update({"save_file_p50_ms": percentile(saves, 50),
                                 "save_file_p99_ms": percentile(saves, 99)})
        for backend in (index.backend, "scan") if index.backend != "scan" else ("scan",):
            figures[backend] = _ask(CodeIndex(client, backend=backend), queries, rerank=True)
            figures[f"{backend}_vectors_only"] = _ask(CodeIndex(client, backend=backend), queries,
                                                      rerank=False)
        stripped = [c for path, text in files
                    for c in chunk_file(str(path), text, "python", strip_docstrings=True)]
        lexical = Lexical(stripped)
        ranks = []
        latencies = []
        for query, file, line in queries:
            t0 = time.perf_counter()
            ranks.append(_rank(lexical.search(query, 10), file, line))
            latencies.append((time.perf_counter() - t0) * 1000)
        figures["lexical_baseline"] = {**_quality(ranks), "p50_ms": percentile(latencies, 50)}
        if args.embedder.startswith("static:"):
            figures.update(_static_figures(args.embedder[len("static:"):], model, stripped, queries))
        elif args.embedder != "learned":
            raise SystemExit(f"--embedder: learned or static:PATH, not {args.embedder!r}")
        figures["machine"] = machine()
        return figures
    finally:
        client.close()
        redis_.close()


def _ask(index: CodeIndex, queries: list[tuple[str, str, int]], *, rerank: bool) -> dict[str, Any]:
    index.search("warm up the caches", k=10, rerank=rerank)
    ranks = []
    latencies = []
    for query, file, line in queries:
        t0 = time.perf_counter()
        hits = index.search(query, k=10, rerank=rerank)
        latencies.append((time.perf_counter() - t0) * 1000)
        ranks.append(_rank(hits, file, line))
    return {**_quality(ranks), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99)}


def _static_figures(path: str, model: embed.Model, chunks: list[Chunk],
                    queries: list[tuple[str, str, int]]) -> dict[str, Any]:
    """The static model's rows: alone, reordered, and averaged with the learned vectors."""
    t0 = time.perf_counter()
    static_model = static.StaticModel.load(path)
    loaded = time.perf_counter()
    texts = [c.text for c in chunks]
    names = [c.name for c in chunks]
    vectors = static_model.embed(texts, names)
    embedded = time.perf_counter()
    learned = model.embed(texts, names)
    lexical: dict[int, dict[str, float]] = {}

    def reorder(query: str, scores: np.ndarray) -> list[int]:
        # What CodeIndex.search does: RERANK candidates, then the mean with the lexical cosine.
        candidates = _top(scores, RERANK)
        words = model.lexical(embed.subtokens(query))
        for i in candidates:
            if i not in lexical:
                lexical[i] = model.lexical(embed.subtokens(texts[i]) + embed.subtokens(names[i]) * 2)
        score = {i: (scores[i] + sum(w * lexical[i].get(t, 0.0) for t, w in words.items())) / 2
                 for i in candidates}
        return sorted(candidates, key=lambda i: -score[i])

    rows: dict[str, list[int | None]] = {"static": [], "static_reordered": [],
                                          "static_learned_reordered": []}
    for query, file, line in queries:
        s = _scores(vectors, static_model.embed([query])[0])
        combined = _scores(learned, model.embed([query])[0])
        if s is not None and combined is not None:
            combined = (s + combined) / 2
        combined = s if combined is None else combined
        for row, order in (("static", _top(s, 10) if s is not None else []),
                           ("static_reordered", reorder(query, s) if s is not None else []),
                           ("static_learned_reordered",
                            reorder(query, combined) if combined is not None else [])):
            rows[row].append(_rank([chunks[i] for i in order[:10]], file, line))
    out: dict[str, Any] = {name: _quality(ranks) for name, ranks in rows.items()}
    out["static"].update({"path": path, "id": static_model.id, "dim": static_model.dim,
                          "tokens": len(static_model.vectors),
                          "load_s": round(loaded - t0, 3),
                          "chunks_per_s": round(len(texts) / max(embedded - loaded, 1e-9), 1)})
    return out


def _scores(vectors: np.ndarray, query: np.ndarray) -> np.ndarray | None:
    """Cosines of unit rows with a unit query; chunks with no vector rank last (as unindexed)."""
    if not query.any():
        return None
    scores = vectors @ query
    scores[~vectors.any(axis=1)] = -np.inf
    return scores


def _top(scores: np.ndarray, k: int) -> list[int]:
    best = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in best if np.isfinite(scores[i])]


# -- the developer set ---------------------------------------------------------------------
def _developer_queries() -> list[tuple[str, str, set[str]]]:
    """(project, question, answers as file:name) of search_queries.tsv."""
    rows = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            project, question, answers = line.split("\t")
            rows.append((project, question, set(answers.split("|"))))
    return rows


def _key(project_of: dict[str, str], file: str, name: str) -> tuple[str, str]:
    return project_of.get(file, ""), f"{file.rsplit('/', 1)[-1]}:{name}"


def _ranks(order: Sequence[tuple[str, str]], project: str, answers: set[str]) -> int | None:
    for i, (proj, key) in enumerate(order[:50], 1):
        if proj == project and key in answers:
            return i
    return None


def _figures(ranks: list[int | None]) -> dict[str, float]:
    n = max(1, len(ranks))
    out = {f"recall_at_{k}": round(sum(1 for r in ranks if r is not None and r <= k) / n, 3)
           for k in (1, 5, 10)}
    out["mrr"] = round(sum(1.0 / r for r in ranks if r is not None) / n, 3)
    return out


def run_developer(args: argparse.Namespace) -> dict[str, Any]:
    """Index both projects in a private Redis with the shipped embedder, and ask every
    question of every ranking (module docstring)."""
    specs = tuple(spec for spec, _ in PROJECTS.values())
    roots = {name: Path(args.cache) / spec.replace("==", "-") / sub
             for name, (spec, sub) in PROJECTS.items()}
    _sources(Path(args.cache), specs)
    files = [(name, p.resolve()) for name, root in roots.items() for p in sorted(root.rglob("*.py"))]
    project_of = {str(p): name for name, p in files}
    queries = _developer_queries()
    chunks = [c for _name, p in files
              for c in chunk_file(str(p), p.read_text(encoding="utf-8"), "python")]
    keys_ = [_key(project_of, c.file, c.name) for c in chunks]
    known = set(keys_)
    missing = [a for proj, _q, answers in queries for a in answers if (proj, a) not in known]
    if missing:
        raise SystemExit(f"answers not among the chunks: {missing}")
    redis_ = PrivateRedis(args.redis_url)
    client = redis_.client()
    try:
        client.flushall()
        index = CodeIndex(client)
        started = time.perf_counter()
        first_answer: list[float] = []

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase == "encoding chunks" and not first_answer:
                first_answer.append(time.perf_counter() - started)

        report = index_paths(index, [str(r) for r in roots.values()], progress=progress)
        seconds = time.perf_counter() - started
        model = index.model()
        assert isinstance(model, pretrained.Pretrained)
        figures: dict[str, Any] = {
            "corpus": {"projects": list(specs), "files": len(files), "chunks": report.chunks,
                       "queries": len(queries)},
            "index": {"seconds": round(seconds, 1),
                      "static_tier_answers_after_s": round(first_answer[0], 1) if first_answer else None,
                      "encoded": report.encoded,
                      "encoder_chunks_per_s": round(report.encoded / max(seconds - (first_answer or [0])[0], 1e-9), 1)},
        }
        figures.update(_in_process_rows(index, model, chunks, keys_, queries))
        for backend in (index.backend, "scan") if index.backend != "scan" else ("scan",):
            figures[f"shipped_{backend}"] = _ask_shipped(CodeIndex(client, backend=backend),
                                                         project_of, queries)
        # While chunks wait for the encoder, search answers with BM25, then the static tier.
        client.sadd(keys.CODE_PENDING, "waiting")
        figures["shipped_while_encoding"] = _ask_shipped(CodeIndex(client), project_of, queries)
        client.srem(keys.CODE_PENDING, "waiting")
        figures["at_10000_chunks"] = _latency_at(client, project_of, queries, 10_000)
        learned_index = CodeIndex(client)
        t0 = time.perf_counter()
        learned_index.rebuild(kind="learned")
        figures["index"]["learned_rebuild_s"] = round(time.perf_counter() - t0, 1)
        figures["learned_reordered"] = _ask_shipped(CodeIndex(client, backend="scan"), project_of,
                                                    queries)

        figures["machine"] = machine()
        return figures
    finally:
        client.close()
        redis_.close()


def _latency_at(client: Any, project_of: dict[str, str], queries: list[tuple[str, str, set[str]]],
                size: int) -> dict[str, Any]:
    """Query latency of search as it ships once the index holds ``size`` chunks: copies of
    the corpus's chunks (with their vectors) under other paths, so no encoding is needed."""
    ids = [_text(c) for c in client.smembers(keys.CODE_CHUNKS)]
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hgetall(keys.code_chunk(cid))
    originals = pipe.execute()
    copy = 0
    while len(ids) + copy < size:
        pipe = client.pipeline(transaction=False)
        for cid, fields in zip(ids, originals, strict=True):
            if len(ids) + copy >= size:
                break
            new = f"{cid}c{copy}"
            moved = dict(fields)
            moved[b"file"] = f"/copies/{copy}{_text(fields[b'file'])}".encode()
            moved[b"scope"] = b"/copies"
            pipe.hset(keys.code_chunk(new), mapping=moved)
            pipe.sadd(keys.CODE_CHUNKS, new)
            copy += 1
        pipe.execute()
    client.set(keys.CODE_GENERATION, "copies")
    out: dict[str, Any] = {"chunks": int(client.scard(keys.CODE_CHUNKS))}
    for backend in ("redis-search", "scan") if CodeIndex(client).backend != "scan" else ("scan",):
        index = CodeIndex(client, backend=backend)
        t0 = time.perf_counter()
        index.search("warm up the caches", k=10)
        out[f"{backend}_first_query_s"] = round(time.perf_counter() - t0, 2)
        figures = _ask_shipped(index, project_of, queries)
        out[backend] = {"p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"]}
    # The copies go again: they would crowd the answers out of the rankings measured after.
    originals_ = set(ids)
    copies = [c for c in (_text(m) for m in client.smembers(keys.CODE_CHUNKS)) if c not in originals_]
    for start in range(0, len(copies), 500):
        batch = copies[start:start + 500]
        client.delete(*(keys.code_chunk(c) for c in batch))
        client.srem(keys.CODE_CHUNKS, *batch)
    client.set(keys.CODE_GENERATION, "originals")
    return out


def _ask_shipped(index: CodeIndex, project_of: dict[str, str],
                 queries: list[tuple[str, str, set[str]]]) -> dict[str, Any]:
    index.search("warm up the caches", k=10)
    ranks, latencies = [], []
    for project, question, answers in queries:
        t0 = time.perf_counter()
        hits = index.search(question, k=50)
        latencies.append((time.perf_counter() - t0) * 1000)
        ranks.append(_ranks([_key(project_of, h.file, h.name) for h in hits], project, answers))
    return {**_figures(ranks), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99)}


def _in_process_rows(index: CodeIndex, model: pretrained.Pretrained, chunks: list[Chunk],
                     keys_: list[tuple[str, str]],
                     queries: list[tuple[str, str, set[str]]]) -> dict[str, Any]:
    """BM25, the static tier, the encoder and their fusions, exact and in process, over the
    same chunks (the encoder's vectors read back from what indexing stored)."""
    texts = [embed_text(c) for c in chunks]
    by_place = {(c.file, c.start_line, c.name): i for i, c in enumerate(chunks)}
    encoded = np.zeros((len(chunks), model.dim), dtype=np.float32)
    for cid in index.redis.smembers(keys.CODE_CHUNKS):
        raw: Any = index.redis.hmget(keys.code_chunk(_text(cid)), "file", "start_line", "name",
                                     "vec")
        file, line, name, vec = raw
        i = by_place.get((file.decode(), int(line), name.decode()))
        if i is not None and vec:
            encoded[i] = np.frombuffer(vec, dtype=np.float32)
    statics = model.embed_static(texts)
    bm25 = lexical.BM25([lexical.document(c.text, c.name) for c in chunks])
    rows: dict[str, list[int | None]] = {}

    def add(row: str, scores: np.ndarray, project: str, answers: set[str]) -> None:
        order = np.argsort(-scores, kind="stable")[:50]
        rows.setdefault(row, []).append(_ranks([keys_[i] for i in order], project, answers))

    for project, question, answers in queries:
        words = bm25.scores(embed.subtokens(question))
        cosine = encoded @ model.embed([question])[0]
        add("bm25", words, project, answers)
        static_cosine = statics @ model.embed_static([question])[0]
        add("static", static_cosine, project, answers)
        add("encoder", cosine, project, answers)
        top = words.max() or 1.0
        for weight in (0.05, 0.1, 0.2):
            add(f"encoder_plus_bm25_{weight}", cosine + weight * words / top, project, answers)
        # Reciprocal rank fusion, equal weights (k = 60), of the whole rankings.
        add("encoder_bm25_rrf", _rrf(cosine, words), project, answers)
        add("static_bm25_rrf", _rrf(static_cosine, words), project, answers)
    return {row: _figures(ranks) for row, ranks in rows.items()}


def _rrf(*scores: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion of whole rankings (lexical.RRF_K)."""
    fused = np.zeros(len(scores[0]))
    for row in scores:
        rank = np.empty(len(row))
        rank[np.argsort(-row, kind="stable")] = np.arange(1, len(row) + 1)
        fused += 1.0 / (lexical.RRF_K + rank)
    return fused
