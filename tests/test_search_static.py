"""The pretrained static embedder's reader (search/static.py) and the benchmark rows it feeds.

Search does not use static models (docs/search.md: measured, not adopted); these tests keep the
measurement honest. The 15 MB distilled model is not needed: each test writes a tiny model in
the same on-disk format (model2vec's: ``model.safetensors`` with a float16 ``embeddings`` tensor,
a WordPiece ``tokenizer.json``) with vectors it knows.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from redis_ai.bench import search as bench
from redis_ai.search import embed, static
from redis_ai.search.chunks import chunk_file

WORDS = ["[PAD]", "[UNK]", "retry", "connection", "compress", "##ing", "##ed", "data", "gzip",
         "shrink", "bytes", "open", "file", "read", "lines", "sort", "list", "def", "return"]
WORDS += [f"filler{i}" for i in range(300)]


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout, written independently of the reader under test."""
    header: dict[str, object] = {"__metadata__": {"format": "np"}}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        dtype = {np.float16: "F16", np.float32: "F32", np.int32: "I32"}[array.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def make_model(folder: Path, vectors: np.ndarray, kind: str = "WordPiece") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", {"embeddings": vectors})
    tokenizer = {"version": "1.0", "model": {"type": kind, "unk_token": "[UNK]",
                                             "continuing_subword_prefix": "##",
                                             "max_input_chars_per_word": 100,
                                             "vocab": {w: i for i, w in enumerate(WORDS)}}}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    return folder


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((len(WORDS), 16)).astype(np.float16)


def ids(*words: str) -> list[int]:
    return [WORDS.index(w) for w in words]


def test_loads_and_splits_code_into_word_pieces(tmp_path: Path, vectors: np.ndarray) -> None:
    model = static.StaticModel.load(make_model(tmp_path / "m", vectors))
    assert model.dim == 16 and len(model.vectors) == len(WORDS)
    assert model.vectors.dtype == np.float32
    np.testing.assert_array_equal(model.vectors, vectors.astype(np.float32))
    assert model.id.startswith("static-")
    # Identifiers are cut at "_" and camel case first, then each word by longest match.
    assert model.tokenize("retryConnection") == ids("retry", "connection")
    assert model.tokenize("compressed_data compressing") == ids("compress", "##ed", "data",
                                                                 "compress", "##ing")
    # A word with a piece the vocabulary lacks is unknown as a whole, and carries nothing.
    assert model.tokenize("gzipx retry") == ids("retry")
    assert model.tokenize("x" * 150 + " data") == ids("data")
    # Another model of other vectors has another id.
    other = static.StaticModel.load(make_model(tmp_path / "o", vectors[::-1].copy()))
    assert other.id != model.id


def test_embeds_the_normalised_mean_of_the_pieces(tmp_path: Path, vectors: np.ndarray) -> None:
    model = static.StaticModel.load(make_model(tmp_path / "m", vectors))
    rows = model.embed(["shrink the data", "nothing known here", "open"], names=["gzip", "", "read"])
    v = vectors.astype(np.float32)
    expected = v[ids("shrink", "data", "gzip", "gzip")].mean(axis=0)
    np.testing.assert_allclose(rows[0], expected / np.linalg.norm(expected), rtol=1e-5)
    assert not rows[1].any()
    expected = v[ids("open", "read", "read")].mean(axis=0)
    np.testing.assert_allclose(rows[2], expected / np.linalg.norm(expected), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.embed(["retry connection"])[0]), 1.0, rtol=1e-5)


def test_rejects_what_it_cannot_read(tmp_path: Path, vectors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="not WordPiece"):
        static.StaticModel.load(make_model(tmp_path / "bpe", vectors, kind="BPE"))
    with pytest.raises(ValueError, match="beyond"):
        static.StaticModel.load(make_model(tmp_path / "short", vectors[:10]))
    folder = make_model(tmp_path / "int", vectors)
    write_safetensors(folder / "model.safetensors", {"embeddings": np.zeros((400, 4), np.int32)})
    with pytest.raises(ValueError, match="dtype I32"):
        static.StaticModel.load(folder)


def test_benchmark_rows_find_the_chunk_by_its_words(tmp_path: Path) -> None:
    # Vectors that make "shrink" and "gzip" the same direction: the static rows must find the
    # gzip function from a query in other words, which the learned model cannot know.
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((len(WORDS), 32)).astype(np.float32)
    vectors[WORDS.index("shrink")] = vectors[WORDS.index("gzip")]
    folder = make_model(tmp_path / "m", vectors.astype(np.float16))
    source = ("def gzip(payload):\n    return payload\n\n"
              "def sort_list(items):\n    return sorted(items)\n\n"
              "def open_file(name):\n    return name\n\n"
              "def read_lines(name):\n    return name.splitlines()\n")
    chunks = chunk_file(str(tmp_path / "m.py"), source, "python")
    model = embed.learn([c.text for c in chunks] * 3)
    queries = [("shrink", chunks[0].file, chunks[0].start_line),
               ("sort", chunks[1].file, chunks[1].start_line)]
    figures = bench._static_figures(str(folder), model, chunks, queries)
    assert figures["static"]["recall_at_1"] == 1.0
    assert figures["static"]["dim"] == 32 and figures["static"]["tokens"] == len(WORDS)
    assert figures["static_reordered"]["recall_at_10"] == 1.0
    assert set(figures) == {"static", "static_reordered", "static_learned_reordered"}
