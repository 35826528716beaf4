"""The default embedder: all-MiniLM-L6-v2 (encoder.py) and its static tier (distill.py).

Every chunk gets two vectors: ``svec`` from the static tier, made as soon as the chunk is
written (thousands a second), and ``vec`` from the encoder (some 25-37 a second here), made
inline for a saved file's few changed chunks and by ``redis-ai index`` for the rest. Until every
chunk has its encoder vector, search answers with the static vectors; then with the encoder's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import distill, encoder

KIND = "pretrained"
RECENT = 20_000
"""Encoder vectors a process keeps by text (1.5 kB each) before it starts afresh."""


class Pretrained:
    """The encoder and its static tier, as index.py uses them."""

    def __init__(self, model: encoder.Encoder | None = None) -> None:
        self.encoder = model or encoder.shared()
        self.static = distill.load(self.encoder)
        self.id = self.encoder.id
        self._recent: dict[str, np.ndarray] = {}
        """The id stored on chunks beside ``vec``; the static tier's is ``static.id``."""

    @property
    def dim(self) -> int:
        """The encoder vectors' length (384)."""
        return self.encoder.dim

    @property
    def static_dim(self) -> int:
        """The static vectors' length (256)."""
        return self.static.dim

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """Encoder vectors (a chunk's text already starts with its qualified name). A text this
        process encoded lately is not encoded again (a rebuild, a file saved back as it was)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = []
        for i, text in enumerate(texts):
            found = self._recent.get(text)
            if found is None:
                todo.append(i)
            else:
                out[i] = found
        if todo:
            vectors = self.encoder.embed([texts[i] for i in todo])
            if len(self._recent) + len(todo) > RECENT:
                self._recent.clear()
            for i, vector in zip(todo, vectors, strict=True):
                out[i] = vector
                self._recent[texts[i]] = vector
        return out

    def embed_static(self, texts: Sequence[str]) -> np.ndarray:
        """Static-tier vectors."""
        return self.static.embed(texts)


_SHARED: Pretrained | None = None


def shared() -> Pretrained:
    """The process's Pretrained (the encoder and the static tier load once)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Pretrained()
    return _SHARED
