"""redis-ai: an AI coding companion for Emacs and Neovim with Redis as its whole backend."""

__version__ = "0.1.0"

__all__ = ["__version__"]
