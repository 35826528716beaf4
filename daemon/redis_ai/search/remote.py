"""Embeddings from a model of the registry instead of the learned embedder, when the user has
registered one with the capability ``embed``: OpenAI-compatible ``POST /v1/embeddings``, which
OpenAI, Ollama, llama.cpp's server, vLLM and text-embeddings-inference all speak.

    redis-ai models add nomic --provider openai --endpoint http://localhost:11434 \\
        --model nomic-embed-text --capability embed

Nothing is downloaded: the model runs wherever its endpoint is. Every chunk and query is then
embedded by it, and ``redis-ai index`` embeds the whole corpus again when it appears or goes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np
import redis

from ..models import registry
from ..models.providers.base import ProviderError

CAPABILITY = "embed"
BATCH = 32
"""Texts per request while indexing."""
BATCH_TIMEOUT_FACTOR = 10
"""A batch may take this many times the model's ``timeout_ms`` (which is sized for one query)."""


def configured(client: redis.Redis) -> registry.Model | None:
    """The enabled OpenAI-compatible model offering ``embed`` (the first by id), if any."""
    for model, _measured in registry.for_capability(client, CAPABILITY):
        if model.enabled and model.provider == "openai":
            return model
    return None


class RemoteEmbedder:
    """Texts -> unit float32 vectors from the model's ``/v1/embeddings``."""

    def __init__(self, model: registry.Model, model_id: str = "", dim: int = 0) -> None:
        self.model = model
        self.id = model_id
        self._dim = dim

    @property
    def dim(self) -> int:
        """The vectors' length, known after the first answer (or from the stored model)."""
        return self._dim

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """One unit row per text (``names`` are already in a chunk's text and not sent again)."""
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), BATCH):
            rows.append(self._request(list(texts[start:start + BATCH])))
        if not rows:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = np.vstack(rows).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 1e-12)
        self._dim = int(vectors.shape[1])
        return vectors

    def _request(self, texts: list[str]) -> np.ndarray:
        # Embedding models take far fewer tokens than chat models; max_context caps characters.
        body = {"model": self.model.model, "encoding_format": "float",
                "input": [t[: self.model.max_context] or " " for t in texts]}
        headers = {"Content-Type": "application/json"}
        key = self.model.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        base = self.model.base_url
        url = base + ("/embeddings" if base.endswith("/v1") else "/v1/embeddings")
        timeout = self.model.timeout_ms / 1000 * (1 if len(texts) == 1 else BATCH_TIMEOUT_FACTOR)
        request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise ProviderError(f"{self.model.id}: HTTP {exc.code}: {detail}", exc.code, "http") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderError(f"{self.model.id}: {exc}", kind="io") from None
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list) or len(data) != len(texts):
            raise ProviderError(f"{self.model.id}: expected {len(texts)} embeddings", kind="protocol")
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        return np.array([item["embedding"] for item in ordered], dtype=np.float32)
