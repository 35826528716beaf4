"""LLM providers, by the ``provider`` field of a model: each turns a Request into a Reply."""

from __future__ import annotations

from ..registry import Model
from .anthropic import Anthropic
from .base import Cancel, Cancelled, Provider, ProviderError, ProviderTimeout, Reply, Request
from .llamacpp import LlamaCpp
from .ollama import Ollama
from .openai import OpenAI

PROVIDERS: dict[str, type[Provider]] = {
    "openai": OpenAI, "anthropic": Anthropic, "llamacpp": LlamaCpp, "ollama": Ollama,
}


def make(model: Model) -> Provider:
    """The provider object that calls ``model``; ProviderError for local or unknown providers."""
    cls = PROVIDERS.get(model.provider)
    if cls is None:
        raise ProviderError(f"provider {model.provider!r} is not an HTTP provider", kind="config")
    return cls(model)


__all__ = [
    "PROVIDERS", "Cancel", "Cancelled", "Provider", "ProviderError", "ProviderTimeout", "Reply",
    "Request", "make",
]
