"""``code_index``: keeps the search index fresh while the user edits, from the event stream.

A whole buffer of a file that the editor saved or opened replaces that file's chunks with the
chunks of the text the editor sent (the file on disk may already differ again). Typing does not:
the file is indexed as it was last saved, and its chunks do not churn at every pause. A buffer
too large to send whole (a window of it) is left to ``redis-ai index``. It publishes nothing.

When the corpus has changed enough (index.REBUILD_CHANGE), the embedder is learned again here
only while the corpus is small (SELF_LEARN_MAX chunks, about a second of learning): a project
that is only ever opened and saved gets a model and keeps it current, and a larger one waits
for ``redis-ai index``, which does not hold up a consumer group. With the pretrained embedder a
saved file's changed chunks are encoded at once; chunks left waiting by a rebuild are encoded
here only while they are few (SELF_ENCODE_MAX).
"""

from __future__ import annotations

import os

from ..analyzers.base import Analyzer, Event, Item
from .corpus import LANGUAGES, MAX_FILE_BYTES, indexable
from .index import shared
from .pretrained import Pretrained

SELF_LEARN_MAX = 3000
"""Largest corpus, in chunks, for which the analyzer learns the embedder again itself."""
SELF_ENCODE_MAX = 64
"""Most chunks waiting for the encoder (a few seconds of work) that the analyzer encodes itself;
more are left to ``redis-ai index``, and search answers with the static tier meanwhile."""


class CodeIndexer(Analyzer):
    """Re-indexes one file's chunks on whole-buffer ``save`` and ``open`` events."""

    name = "code_index"
    kind = "hints"  # never published: analyze always returns None

    def wants(self, event: Event) -> bool:
        """Whole buffers, saved or opened, of files in a language search indexes."""
        if not super().wants(event) or not event.get("file") or not event.get("whole"):
            return False
        return event.get("intent") in ("save", "open") and event.get("language") in LANGUAGES

    def analyze(self, event: Event) -> list[Item] | None:
        """Index the event's text as the file's content; publish nothing."""
        text = event["text"]
        if self.redis is None or len(text.encode("utf-8", "surrogateescape")) > MAX_FILE_BYTES:
            return None
        # `redis-ai index` knows files by their resolved path; so must the editor's events.
        index = shared(self.redis)
        path = os.path.realpath(event["file"])
        if not indexable(path) and not index.is_indexed(path):
            return None  # a library's file, opened by a jump to a definition: not the user's code
        if not index.is_current(path, text):
            index.index_text(path, text, event["language"])
        if index.count() <= SELF_LEARN_MAX and index.needs_rebuild():
            index.rebuild()
        model = index.model()
        if isinstance(model, Pretrained) and 0 < index.pending() <= SELF_ENCODE_MAX:
            index.encode_pending(model)
        return None
