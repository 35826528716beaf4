"""The static tier: one fixed vector per word piece, distilled from the encoder on this machine.

The way model2vec distils (Tulkens and van Dongen, 2024), in numpy and without a download: a
piece of the encoder's vocabulary is run through the encoder alone (``[CLS] piece [SEP]``,
mean-pooled), centred and rotated onto principal axes (``DIM`` kept), and weighted by
``log(1 + rank)`` of its id (BERT's ids run roughly from frequent to rare, so common pieces weigh
less, as in SIF weighting). A text's vector is then the mean of its pieces' rows
(static.StaticModel): thousands of chunks a second, so search answers with it while the encoder
embeds in the background.

All 30,522 pieces take some 17 s on two shared cores (1,700 a second, one BLAS thread), so
pieces are distilled when a text first needs them: a project of 10,000 chunks uses some 6,000
(3-5 s), the bench's 924 chunks 2,750 (1.6 s, the basis below 0.9 s), a query's new words a few
milliseconds. The centring and the axes come first from a fixed sample of
``BASIS_SAMPLE`` pieces, so a piece distilled later lands in the same space. What is distilled
is kept in the user's cache folder (``$XDG_CACHE_HOME/redis-ai/static/<encoder id>.npz``,
derived data that can be made again) and grows from run to run.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..progress import Progress, quiet
from . import encoder as encoder_mod
from .static import StaticModel

DIM = 256
"""Dimensions kept by the PCA (model2vec's default)."""
BATCH = 512
"""Pieces per forward pass (each three tokens long)."""
BASIS_SAMPLE = 1024
"""Pieces (evenly spread over the ordinary ones) whose vectors give the mean and the axes."""
FIRST_WORD = 1996
"""BERT uncased's first ordinary piece ("the"); ids below are padding, [unused*], specials and
single characters."""
SAVE_EVERY = 256
"""New pieces distilled before the cache file is written again."""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/redis-ai`` (default ``~/.cache/redis-ai``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redis-ai"


class StaticTier(StaticModel):
    """A StaticModel whose rows are distilled from the encoder as texts first need them."""

    def __init__(self, model: encoder_mod.Encoder, path: Path | None = None) -> None:
        import json

        tokenizer = json.loads((encoder_mod.model_folder() / "tokenizer.json").read_text("utf-8"))
        vocab = {str(k): int(v) for k, v in tokenizer["model"]["vocab"].items()}
        super().__init__(vocab, np.zeros((model.vocab_size, DIM), dtype=np.float32),
                         model_id=f"static-{model.id}")
        self.encoder = model
        self.path = path or cache_dir() / "static" / f"{model.id}.npz"
        self.known = np.zeros(model.vocab_size, dtype=bool)
        self.mean = np.zeros(model.dim, dtype=np.float32)
        self.axes = np.zeros((DIM, model.dim), dtype=np.float32)
        self._lock = threading.Lock()
        self._unsaved = 0
        self._read()

    def _read(self) -> None:
        try:
            with np.load(self.path) as saved:
                if saved["vectors"].shape == self.vectors.shape:
                    self.vectors[:] = saved["vectors"]
                    self.known[:] = saved["known"]
                    self.mean[:] = saved["mean"]
                    self.axes[:] = saved["axes"]
                    return
        except (OSError, KeyError, ValueError):
            pass
        self._basis()

    def _basis(self) -> None:
        sample = [int(i) for i in np.linspace(FIRST_WORD, self.encoder.vocab_size - 1, BASIS_SAMPLE)]
        raw = self._raw(sample)
        self.mean[:] = raw.mean(axis=0)
        _u, _s, vt = np.linalg.svd(raw - self.mean, full_matrices=False)
        self.axes[:] = vt[:DIM]
        self._store(sample, raw)

    def _raw(self, ids: Sequence[int], progress: Progress = quiet) -> np.ndarray:
        cls_id = self.vocab["[CLS]"]
        sep_id = self.vocab["[SEP]"]
        out = np.zeros((len(ids), self.encoder.dim), dtype=np.float32)
        for start in range(0, len(ids), BATCH):
            progress("distilling word pieces", start, len(ids))
            out[start:start + BATCH] = self.encoder.embed_ids(
                [[cls_id, int(p), sep_id] for p in ids[start:start + BATCH]])
        progress("distilling word pieces", len(ids), len(ids))
        return out

    def _store(self, ids: Sequence[int], raw: np.ndarray) -> None:
        index = np.asarray(ids, dtype=np.int64)
        weights = np.log1p(np.maximum(index - FIRST_WORD, 0) + 1.0).astype(np.float32)
        self.vectors[index] = ((raw - self.mean) @ self.axes.T) * weights[:, None]
        self.known[index] = True
        self._unsaved += len(index)

    def ensure(self, texts: Sequence[str], progress: Progress = quiet) -> None:
        """Distil every piece of ``texts`` not distilled yet (and save the cache now and then)."""
        wanted: set[int] = set()
        for text in texts:
            wanted.update(self.tokenize(text))
        with self._lock:
            missing = sorted(i for i in wanted if not self.known[i])
            if missing:
                self._store(missing, self._raw(missing, progress))
            if self._unsaved >= SAVE_EVERY:
                self.save()

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """StaticModel's mean of pieces, after distilling the pieces it has not met yet."""
        self.ensure([*texts, *(names or ())])
        return super().embed(texts, names)

    def save(self) -> None:
        """Write what is distilled to the cache file (aside, then renamed: never half-made)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, work = tempfile.mkstemp(dir=self.path.parent, prefix=".static-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, vectors=self.vectors, known=self.known, mean=self.mean,
                         axes=self.axes)
            os.replace(work, self.path)
            self._unsaved = 0
        finally:
            if os.path.exists(work):
                os.unlink(work)


_LOCK = threading.Lock()
_LOADED: dict[str, StaticTier] = {}


def load(model: encoder_mod.Encoder | None = None) -> StaticTier:
    """The process's static tier of ``model`` (default: the shared encoder)."""
    model = model or encoder_mod.shared()
    with _LOCK:
        found = _LOADED.get(model.id)
        if found is None:
            found = _LOADED[model.id] = StaticTier(model)
        return found
