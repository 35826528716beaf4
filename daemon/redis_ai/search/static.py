"""Text -> vector with a pretrained static embedder: one fixed vector per word piece.

Search does not use it: measured by ``redis-ai bench search --embedder static:PATH``, a model
distilled from all-MiniLM-L6-v2 did not beat the learned embedder (docs/search.md, "Pretrained
static embeddings (measured, not adopted)"). It is the reader that measurement uses.

A static model (model2vec's format: ``model.safetensors`` with one tensor ``embeddings``, one row
per token id, and the ``tokenizer.json`` of a BERT WordPiece tokenizer) is distilled from a
sentence transformer once, offline; a text's vector is then the mean of its pieces' rows,
L2-normalised: no torch, no tokenizers package, only numpy. For texts of such words it gives
model2vec's own vectors (checked to a cosine of 0.99999 on the distilled model).

Code is not prose, so the text is first cut into words the way embed.subtokens cuts it
(identifiers split at ``_`` and camel case, lower-cased) but without stemming, and each word is
then split into pieces by greedy longest match (BERT's WordPiece), so ``retryConnect`` gives
``retry``, ``connect`` rather than ``retry``, ``##con``, ``##nect``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import embed
from .encoder import read_safetensors

KIND = "static"
MAX_WORD_CHARS = 100
"""WordPiece's limit: a longer word is unknown."""



def words(text: str) -> list[str]:
    """The words of ``text`` as the static model sees them: identifiers split, lower-case.

    >>> words("def retryConnection(max_retries=3):  # back off")
    ['def', 'retry', 'connection', 'max', 'retries', 'back', 'off']
    """
    out: list[str] = []
    for word in embed._WORD.findall(text):
        parts = embed._CAMEL.findall(word) if not word.islower() else [word]
        for part in parts:
            for piece in part.split("_") if "_" in part else (part,):
                if piece and not piece.isdigit():
                    out.append(piece.lower())
    return out


class StaticModel:
    """A pretrained static embedder loaded from a folder in model2vec's format."""

    def __init__(self, vocab: dict[str, int], vectors: np.ndarray, *, unk: str = "[UNK]",
                 prefix: str = "##", model_id: str = "") -> None:
        self.vocab = vocab
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.unk = vocab.get(unk)
        self.prefix = prefix
        self.id = model_id
        self._pieces: dict[str, list[int]] = {}

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> StaticModel:
        """Read ``model.safetensors`` and ``tokenizer.json`` (a WordPiece model) from ``folder``."""
        path = Path(folder)
        tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        model = tokenizer.get("model", {})
        if model.get("type") != "WordPiece":
            raise ValueError(f"{path}: tokenizer is {model.get('type')}, not WordPiece")
        tensors, _ = read_safetensors(path / "model.safetensors")
        vectors = tensors.get("embeddings")
        if vectors is None or vectors.ndim != 2:
            raise ValueError(f"{path}: no 2-D tensor 'embeddings'")
        vocab = {str(k): int(v) for k, v in model["vocab"].items()}
        if vocab and max(vocab.values()) >= len(vectors):
            raise ValueError(f"{path}: tokenizer has ids beyond the {len(vectors)} vectors")
        digest = hashlib.sha1(vectors.tobytes())
        digest.update(json.dumps(model["vocab"], sort_keys=True).encode())
        return cls(vocab, vectors, unk=model.get("unk_token", "[UNK]"),
                   prefix=model.get("continuing_subword_prefix", "##"),
                   model_id=f"{KIND}-{digest.hexdigest()[:12]}")

    @property
    def dim(self) -> int:
        """The vectors' length."""
        return int(self.vectors.shape[1])

    def pieces(self, word: str) -> list[int]:
        """Token ids of one lower-case word by greedy longest match; [] if it cannot be split
        (WordPiece makes such a word one unknown token, which carries no meaning)."""
        cached = self._pieces.get(word)
        if cached is not None:
            return cached
        ids: list[int] = []
        start = 0
        if len(word) <= MAX_WORD_CHARS:
            while start < len(word):
                end = len(word)
                found = None
                while end > start:
                    piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                    found = self.vocab.get(piece)
                    if found is not None:
                        break
                    end -= 1
                if found is None:
                    ids = []
                    break
                ids.append(found)
                start = end
        ids = [i for i in ids if i != self.unk]
        if len(self._pieces) < 200_000:
            self._pieces[word] = ids
        return ids

    def tokenize(self, text: str) -> list[int]:
        """The token ids of ``text``: its words (``words``), each split into pieces."""
        out: list[int] = []
        for word in words(text):
            out.extend(self.pieces(word))
        return out

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """One unit float32 row per text: the mean of its pieces' vectors (a row is zero when no
        word is known). ``names`` count twice more, as for the learned embedder."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.tokenize(text)
            if names is not None:
                ids += self.tokenize(names[row]) * 2
            if ids:
                out[row] = self.vectors[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 1e-9)
        return out
