"""Text -> vector, offline: word vectors learned from the user's own code.

Every identifier is split into subtokens (``retry_connect`` and ``retryConnect`` both give
``retry``, ``connect``), and the words of docstrings and comments are taken as they come; each
subtoken is lower-cased and lightly stemmed. ``learn`` counts which subtokens occur near which
(a window of ``WINDOW`` subtokens either side, nearer ones weighing more), turns the counts into
positive pointwise mutual information (PPMI, with the contexts' distribution smoothed by 0.75),
and keeps ``DIM`` dimensions of its truncated SVD: the word vectors. A text's vector is the
IDF-weighted mean of its subtokens' vectors, minus the corpus's mean (the direction every code
chunk shares), L2-normalised. A query is embedded the same way, so "retry the connection" lands
near code where ``retry``, ``reconnect``, ``backoff`` and ``connection`` occur together.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

DIM = 192
"""Dimensions of every vector. A corpus too small for that many is padded with zeros, so the
vector index keeps one shape whatever was learned."""

WINDOW = 4
MAX_VOCAB = 6000
"""Subtokens kept for the word vectors (the most frequent); rarer ones only count for IDF."""
MIN_COUNT = 2

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset("""
a an and are as at be but by for from has have if in into is it its of on or so that the their
then there these this to was were which will with not no do does can we you he she they them our
self cls def return none true false elif else import pass lambda try except finally raise while
yield async await end local nil let var const fn func function str int bool dict list args
kwargs param params type obj val tmp
""".split())


def _stem(word: str) -> str:
    """A few English suffixes off, so that ``retries``, ``retrying`` and ``retry`` meet."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def subtokens(text: str) -> list[str]:
    """The subtokens of ``text`` in order: identifiers split, lower-cased, stemmed, no stopwords.

    >>> subtokens("def retryConnection(max_retries=3):  # back off")
    ['retry', 'connection', 'max', 'retry', 'back', 'off']
    """
    out: list[str] = []
    for word in _WORD.findall(text):
        parts = _CAMEL.findall(word) if not word.islower() else [word]
        for part in parts:
            for piece in part.split("_") if "_" in part else (part,):
                low = piece.lower()
                if len(low) < 2 or low.isdigit() or low in STOPWORDS:
                    continue
                out.append(_stem(low))
    return out


@dataclass
class Model:
    """A learned embedder: vocabulary, IDF of every subtoken, word vectors, the corpus mean."""

    id: str
    words: list[str]
    """Every subtoken with an IDF; the first ``len(vectors)`` of them have a vector."""
    idf: np.ndarray
    vectors: np.ndarray
    mean: np.ndarray
    chunks: int
    """How many chunks it was learned from (to tell when the corpus has changed enough)."""

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """Float32 vectors (one row per text), unit length; a row is zero when no subtoken of
        the text has a vector. ``names`` (a chunk's name) count twice: they say what it is."""
        docs = [subtokens(t) + (subtokens(names[i]) * 2 if names is not None else [])
                for i, t in enumerate(texts)]
        return self.embed_tokens(docs)

    def embed_tokens(self, docs: Sequence[list[str]]) -> np.ndarray:
        """``embed`` for texts already split by ``subtokens``."""
        out = np.zeros((len(docs), self.dim), dtype=np.float32)
        known = len(self.vectors)
        for row, tokens in enumerate(docs):
            ids, weights = self._weights(tokens, known)
            if ids:
                out[row] = np.asarray(weights, dtype=np.float32) @ self.vectors[ids] - self.mean
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 1e-9)
        return out

    def lexical(self, tokens: list[str]) -> dict[str, float]:
        """The one-hot TF-IDF vector of ``tokens`` as a sparse map, unit length (a word the
        model never saw weighs as much as the rarest it knows)."""
        rarest = float(self.idf.max()) if len(self.idf) else 1.0
        weights = {}
        for token, count in Counter(tokens).items():
            i = self.index.get(token)
            weights[token] = (1.0 + math.log(count)) * (float(self.idf[i]) if i is not None else rarest)
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def _weights(self, tokens: list[str], known: int) -> tuple[list[int], list[float]]:
        ids: list[int] = []
        weights: list[float] = []
        for token, count in Counter(tokens).items():
            i = self.index.get(token)
            if i is not None and i < known:
                ids.append(i)
                weights.append(float(self.idf[i]) * (1.0 + math.log(count)))
        total = sum(weights)
        return ids, [w / total for w in weights] if total else weights


def learn(texts: Iterable[str], dim: int = DIM, *, max_vocab: int = MAX_VOCAB,
          seed: int = 0) -> Model:
    """Learn word vectors and IDF from chunk texts (see the module docstring)."""
    docs = [subtokens(t) for t in texts]
    freq: Counter[str] = Counter()
    df: Counter[str] = Counter()
    for tokens in docs:
        freq.update(tokens)
        df.update(set(tokens))
    words = [w for w, c in freq.most_common() if c >= MIN_COUNT]
    n = max(1, len(docs))
    kept = min(len(words), max_vocab)
    idf = np.array([math.log((n + 1) / (df[w] + 1)) + 1.0 for w in words], dtype=np.float32)
    index = {w: i for i, w in enumerate(words[:kept])}
    vectors = _word_vectors(docs, index, dim, seed)
    model = Model(id="", words=words, idf=idf, vectors=vectors,
                  mean=np.zeros(dim, dtype=np.float32), chunks=len(docs))
    # The mean of every chunk's vector is what all code has in common; taking it away lets
    # what sets a chunk apart decide its neighbours.
    raw = model.embed_tokens(docs[:: max(1, len(docs) // 2000)])
    model.mean = raw.mean(axis=0).astype(np.float32) if len(raw) else model.mean
    digest = hashlib.sha1(model.vectors.tobytes() + idf.tobytes())
    digest.update(str(time.time()).encode())
    model.id = digest.hexdigest()[:12]
    return model


def _word_vectors(docs: list[list[str]], index: dict[str, int], dim: int, seed: int) -> np.ndarray:
    size = len(index)
    if size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    counts = _cooccurrences(docs, index)
    ppmi = _ppmi(counts)
    k = min(dim, size - 1) if size > 1 else 1
    u, s = _truncated_svd(ppmi, k, seed)
    vectors = np.zeros((size, dim), dtype=np.float32)
    # Singular values to the power 0.5 (not 1) weigh the dimensions more evenly, which suits
    # similarity better (Levy, Goldberg and Dagan 2015).
    vectors[:, :k] = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 1e-9)
    return vectors


def _cooccurrences(docs: list[list[str]], index: dict[str, int]) -> np.ndarray:
    """Symmetric matrix of co-occurrence weights (1/distance within WINDOW), float32."""
    size = len(index)
    seqs = [np.array([index.get(t, -1) for t in tokens], dtype=np.int64) for tokens in docs]
    seqs = [s for s in seqs if len(s) > 1]
    matrix = np.zeros(size * size, dtype=np.float32)
    if not seqs:
        return matrix.reshape(size, size)
    # One long sequence with WINDOW gaps between chunks keeps pairs from crossing chunks.
    gap = np.full(WINDOW, -1, dtype=np.int64)
    flat = np.concatenate([part for s in seqs for part in (s, gap)])
    codes: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for d in range(1, WINDOW + 1):
        a, b = flat[:-d], flat[d:]
        ok = (a >= 0) & (b >= 0)
        codes.append(a[ok] * size + b[ok])
        weights.append(np.full(int(ok.sum()), 1.0 / d))
    # Sorting the pairs (not a size x size bincount in float64) keeps the peak memory at the
    # float32 matrix itself.
    unique, inverse = np.unique(np.concatenate(codes), return_inverse=True)
    matrix[unique] = np.bincount(inverse, weights=np.concatenate(weights))
    square = matrix.reshape(size, size)
    return square + square.T


def _ppmi(counts: np.ndarray) -> np.ndarray:
    total = float(counts.sum())
    if total <= 0:
        return counts
    rows = counts.sum(axis=1)
    cols = counts.sum(axis=0) ** 0.75
    cols_p = cols / cols.sum()
    rows_p = rows / total
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts / total) - np.log(rows_p)[:, None] - np.log(cols_p)[None, :]
    pmi[~np.isfinite(pmi)] = 0.0
    np.maximum(pmi, 0.0, out=pmi)
    return pmi.astype(np.float32)


def _truncated_svd(matrix: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` left singular vectors and values, by randomized range finding (Halko,
    Martinsson and Tropp 2011): a few matrix products instead of a full SVD."""
    rng = np.random.default_rng(seed)
    width = min(matrix.shape[1], k + 16)
    q = matrix @ rng.standard_normal((matrix.shape[1], width)).astype(np.float32)
    for _ in range(2):
        q, _r = np.linalg.qr(q)
        q = matrix @ (matrix.T @ q)
    q, _r = np.linalg.qr(q)
    small = q.T @ matrix
    u_small, s, _vt = np.linalg.svd(small, full_matrices=False)
    return (q @ u_small[:, :k]).astype(np.float32), s[:k].astype(np.float32)
