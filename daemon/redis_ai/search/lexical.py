"""Okapi BM25 over the chunks' subtokens: the keyword half of the pretrained embedder's ranking.

Subtokens as the learned embedder cuts them (embed.subtokens: identifiers split at ``_`` and
camel case, lower-cased, lightly stemmed, stopwords out), a chunk's name counting twice more.
index.py fuses this ranking with the encoder's by reciprocal rank (``fuse``): on the developer
question set of ``redis-ai bench search`` that lifts MRR from 0.53 to 0.59 and recall@5 from
0.67 to 0.80 (docs/search.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

RRF_K = 60
"""Reciprocal rank fusion's constant (Cormack, Clarke and Buettcher 2009): a hit's score is
the sum over rankings of 1 / (RRF_K + rank)."""


def document(text: str, name: str) -> list[str]:
    """A chunk's words for BM25: its text's subtokens, its name's twice more."""
    from .embed import subtokens

    return subtokens(text) + subtokens(name) * 2


class BM25:
    """Okapi BM25 (k1 1.2, b 0.75) over a fixed list of documents (lists of words)."""

    def __init__(self, docs: Sequence[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        average = float(lengths.mean()) if len(docs) else 1.0
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(doc))
        n = len(docs)
        self.idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
        rows: dict[str, tuple[list[int], list[float]]] = {}
        for i, doc in enumerate(docs):
            norm = k1 * (1 - b + b * lengths[i] / average)
            for word, tf in Counter(doc).items():
                entry = rows.setdefault(word, ([], []))
                entry[0].append(i)
                entry[1].append(tf * (k1 + 1) / (tf + norm))
        self.postings = {w: (np.array(ids), np.array(ws)) for w, (ids, ws) in rows.items()}
        self.size = n

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """Every document's score for the query's words (0 for a document with none)."""
        out = np.zeros(self.size)
        for word in set(query):
            found = self.postings.get(word)
            if found is not None:
                out[found[0]] += self.idf[word] * found[1]
        return out


def fuse(*rankings: Sequence[str]) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of rankings of ids, best first, with each id's fused score."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
