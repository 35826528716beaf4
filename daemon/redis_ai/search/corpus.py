"""Which files to index, and indexing whole folders: what ``redis-ai index`` does."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..progress import Progress, quiet
from ..schema import language_of
from . import pretrained
from .index import CodeIndex, content_hash

MAX_FILE_BYTES = 1 << 20
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", ".tox",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", "site-packages", "target",
})
LANGUAGES = frozenset({"python", "elisp", "lua", "javascript", "typescript", "rust", "go", "c",
                       "sh", "ruby", "java"})
"""Languages whose files are indexed (data formats such as JSON and TOML are not)."""


def source_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str]]:
    """(resolved path, language) of every source file under ``paths``, in a stable order.

    Hidden folders, virtual environments (any folder holding ``pyvenv.cfg``), node_modules and
    build output are skipped.
    """
    for root in paths:
        root = Path(root).expanduser().resolve()
        if root.is_file():
            language = language_of("", root.name)
            if language in LANGUAGES:
                yield root, language
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                             and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg")))
            for name in sorted(names):
                language = language_of("", name)
                if language in LANGUAGES:
                    yield Path(folder) / name, language


def indexable(path: str) -> bool:
    """Whether ``path`` lies outside the folders the walk skips (hidden ones, environments,
    dependencies, build output), so that opening a library's file does not index it."""
    parts = Path(path).parts[:-1]
    return not any(p in SKIP_DIRS or (p.startswith(".") and p not in (".", "..")) for p in parts)


@dataclass
class IndexReport:
    """What one ``index_paths`` did: this run's files and chunks, then the whole index's."""

    seen: int = 0
    """Source files found under the paths."""
    indexed: int = 0
    """Of those, files (re)indexed: ``new`` plus ``changed``."""
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    chunks_written: int = 0
    chunks: int = 0
    """Chunks in the index afterwards, from every path ever indexed."""
    files: int = 0
    """Files in the index afterwards."""
    rebuilt: bool = False
    embedder: str = ""
    """The kind of embedder the index uses: pretrained, learned or remote."""
    encoded: int = 0
    """Chunks given their encoder vector by this run."""
    pending: int = 0
    """Chunks still without one (the run was interrupted): the next run goes on with them."""
    interrupted: bool = False
    backend: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def index_paths(index: CodeIndex, paths: Iterable[str | os.PathLike[str]], *,
                rebuild: bool = False, kind: str | None = None,
                progress: Progress = quiet) -> IndexReport:
    """Index every source file under ``paths`` whose content changed, forget indexed files under
    them that are gone, make the embedder again when needed (CodeIndex.needs_rebuild; ``kind``
    chooses pretrained or learned) or when ``rebuild``, then give every chunk still without
    one its encoder vector. ``progress`` hears of each file, then of the embedder's phases.

    Every chunk has a static vector, and search answers with it, before the encoder starts;
    interrupted there (KeyboardInterrupt), the report says ``interrupted`` and how many chunks
    are ``pending``, and the next run goes on with them.

    >>> index_paths(CodeIndex(r), ["~/src/project"]).as_dict()  # doctest: +SKIP
    {'seen': 42, 'indexed': 42, 'new': 42, 'changed': 0, 'unchanged': 0, 'removed': 0, ...}
    """
    started = time.monotonic()
    report = IndexReport(backend=index.backend)
    roots = [Path(p).expanduser().resolve() for p in paths]
    known = index.files()
    model = index.model()
    found = list(source_files(roots))
    report.seen = len(found)
    for done, (path, language) in enumerate(found):
        progress("indexing files", done, len(found))
        name = str(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                report.skipped += 1
                continue
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            report.skipped += 1
            continue
        if known.get(name) == content_hash(text):
            report.unchanged += 1
            continue
        report.chunks_written += index.index_text(name, text, language, model, encode=False)
        if name in known:
            report.changed += 1
        else:
            report.new += 1
    progress("indexing files", len(found), len(found))
    report.indexed = report.new + report.changed
    seen = {str(path) for path, _ in found}
    for name in known:
        if name not in seen and any(_under(name, root) for root in roots):
            index.remove(name)
            report.removed += 1
    if rebuild or index.needs_rebuild(kind):
        index.rebuild(kind=kind, progress=progress)
        report.rebuilt = True
    model = index.model()
    if isinstance(model, pretrained.Pretrained):
        try:
            report.encoded = index.encode_pending(model, progress=progress)
        except KeyboardInterrupt:
            report.interrupted = True
        report.pending = index.pending()
    report.embedder = index.kind()
    report.chunks = index.count()
    report.files = len(index.files())
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _under(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root).rstrip("/") + "/")
