"""The offline completion model: token n-grams learned from the user's own files, kept in Redis.

For every context of 1 to ORDER-1 tokens, ``keys.ngram(language, hash(context))`` is a sorted set
of the tokens that followed it, scored by how often; the empty member counts the context itself.
``keys.ngram_files`` records which files were learned at which content hash and
``keys.ngram_sources`` their text, so a changed file is relearned by applying the difference of
its old and new counts: the model always equals the sum of the files as they are now.

Tokens keep their leading blanks (``" ="`` differs from ``"="``), and a line break is one token
together with any blank lines and the change of indentation (``"\\n\\n+4"``), so the model
learns the project's spacing and indentation along with its words.

Completion walks greedily from the cursor with stupid backoff (Brants et al., 2007): the
longest context that has seen a candidate decides, shorter ones count for BACKOFF per step.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis as redis_lib

from .. import keys
from ..progress import Progress, quiet
from ..schema import language_of
from ..store.scripts import queue_eval
from . import lines

if TYPE_CHECKING:
    from redis import Redis

ORDER = 5
"""n of the n-grams: the next token is predicted from up to ORDER-1 tokens before it."""
BACKOFF = 0.4
"""Weight of a shorter context's estimate relative to the next longer seen one."""
PSEUDO = 1.0
"""Added to every context's count: a context seen once predicts at most 1/2, one seen 20 times
up to 20/21, so rare contexts do not make confident guesses."""
MIN_SCORE = 0.3
"""A token is proposed only if its backed-off probability reaches this: a wrong ghost text
costs the user more than none."""
NEXT_LINE_SCORE = 0.5
"""How sure the model must be that the cursor's line is finished to propose the next line."""
MAX_TOKENS = 40
"""Longest completion, in tokens."""
LOCAL_CHARS = 4000
"""How much text before the cursor is read; its own n-grams count LOCAL_WEIGHT times."""
LOCAL_WEIGHT = 2.0
LOCAL_ORDER = 8
"""The text before the cursor is matched on longer contexts than the stored model: it costs
no memory, and a long match in the same file is the best evidence there is."""
MAX_TOKEN_CHARS = 40
"""Longer tokens (docstrings, long strings and comments) are learned as a placeholder of their
kind: they give context but are never proposed."""
MAX_FILE_BYTES = 512 * 1024
LINES_MARK = "+lines"
"""Ends the content hash of a file whose lines are in the line tables (models/lines.py): a
file learned before they existed is relearned once, adding its lines."""
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", ".tox",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", "site-packages",
})

_COMMENTS = {"elisp": ";", "lua": "--", "c": "//", "javascript": "//", "typescript": "//",
             "rust": "//", "go": "//", "java": "//"}
_NO_SINGLE_QUOTE = frozenset({"elisp", "rust"})
_WORD = re.compile(r"[ \t]*\w+\Z")
_BLANK = re.compile(r"[ \t]+\Z")


def _tokenizer(language: str) -> re.Pattern[str]:
    comment = re.escape(_COMMENTS.get(language, "#"))
    single = "" if language in _NO_SINGLE_QUOTE else r"|'(?:\\.|[^'\\\n])*'"
    return re.compile(
        r"\n(?:[ \t]*\n)*[ \t]*"
        r"|[ \t]*(?:"
        r"(?:[rRbBuUfF]{1,2})?(?:'{3}(?:\\.|[^\\])*?'{3}|\"{3}(?:\\.|[^\\])*?\"{3})"
        r'|(?:[rRbBuUfF]{1,2})?(?:"(?:\\.|[^"\\\n])*"' + single + r")"
        rf"|{comment}[^\n]*"
        r"|\w+"
        r"|\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@=!<>]="
        r"|\S)"
        r"|[ \t]+"
    )


_TOKENIZERS: dict[str, re.Pattern[str]] = {}


def tokenize(text: str, language: str = "python") -> list[str]:
    """The tokens of ``text``; joined they give back ``text`` except over-long tokens.

    >>> tokenize("def f(x):\\n    return x")
    ['def', ' f', '(', 'x', ')', ':', '\\n    ', 'return', ' x']
    """
    pattern = _TOKENIZERS.get(language)
    if pattern is None:
        pattern = _TOKENIZERS[language] = _tokenizer(language)
    out = []
    for tok in pattern.findall(text):
        if len(tok) > MAX_TOKEN_CHARS and tok[0] != "\n":
            body = tok.lstrip(" \t")
            kind = "S" if body[0] in "'\"rRbBuUfF" else ("C" if not body[0].isalnum() else "W")
            tok = tok[: len(tok) - len(body)] + "\0" + kind
        out.append(tok)
    return out


def normalize(text: str) -> str:
    """Unix line ends and no trailing blanks, as the model learns text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _hash(context: Iterable[str]) -> str:
    data = "\x1f".join(context).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def relative(tokens: list[str]) -> list[str]:
    """``tokens`` with each line break token carrying the change of indentation, not its width.

    A statement learned inside a method then also predicts it inside a function.

    >>> relative(["\\n", "if", " x", ":", "\\n    ", "y", "\\n\\n"])
    ['\\n+0', 'if', ' x', ':', '\\n+4', 'y', '\\n\\n-4']
    """
    out = []
    indent = 0
    for tok in tokens:
        if tok[0] == "\n":
            width = len(tok) - tok.rfind("\n") - 1
            out.append("\n" * tok.count("\n") + f"{width - indent:+d}")
            indent = width
        else:
            out.append(tok)
    return out


def model_tokens(text: str, language: str) -> list[str]:
    """The tokens the model counts for ``text``: a line break first, indentation made relative."""
    return relative(["\n", *tokenize(normalize(text), language)])


def count(text: str, language: str, order: int = ORDER) -> Counter[tuple[str, str]]:
    """(context hash, next token) -> occurrences in ``text``; next token '' counts the context."""
    tokens = model_tokens(text, language)
    counts: Counter[tuple[str, str]] = Counter()
    for i in range(1, len(tokens)):
        nxt = tokens[i]
        for n in range(1, order):
            if i - n < 0:
                break
            h = _hash(tokens[i - n:i])
            counts[(h, nxt)] += 1
            counts[(h, "")] += 1
    return counts


def content_hash(text: str) -> str:
    """Short hash of the normalised text: equal hashes mean nothing to relearn."""
    return hashlib.sha1(normalize(text).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- learning ---------------------------------------------------------------------------------


def learn_text(redis: Redis, language: str, path: str, text: str, order: int = ORDER) -> bool:
    """Make the model reflect ``text`` as the content of ``path``; False if already learned.

    The old content's counts are subtracted in the same transaction, guarded by WATCH, so two
    processes learning the same file at once cannot count it twice.
    """
    return _learn_text(redis, language, path, text, order) is not None


def _learn_text(redis: Redis, language: str, path: str, text: str, order: int) -> int | None:
    """``learn_text``, answering how many n-gram counts it changed (None: already learned)."""
    digest = content_hash(text) + LINES_MARK
    files, sources = keys.ngram_files(language), keys.ngram_sources(language)
    if _text(redis.hget(files, path) or b"") == digest:
        return None
    new = count(text, language, order)
    new_lines = lines.count(normalize(text))
    for _ in range(8):
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(files, sources)
                known = _text(pipe.hget(files, path) or b"")
                if known == digest:
                    return None
                old_raw = pipe.hget(sources, path)
                old_text = _decompress(old_raw) if old_raw else ""
                old = count(old_text, language, order) if old_raw else Counter()
                # A file learned before the line tables existed added nothing to them.
                old_lines = lines.count(old_text if known.endswith(LINES_MARK) else "")
                pipe.multi()
                changed = _apply(pipe, language, new, old)
                lines.apply(pipe, language, new_lines, old_lines, _apply_counts)
                pipe.hset(files, path, digest)
                pipe.hset(sources, path, zlib.compress(normalize(text).encode("utf-8", "surrogatepass")))
                pipe.execute()
                return changed
            except redis_lib.WatchError:
                continue
    raise RuntimeError(f"could not learn {path}: it kept changing under concurrent learners")


def forget(redis: Redis, language: str, path: str, order: int = ORDER) -> bool:
    """Subtract what was learned from ``path``; False if it was not learned."""
    files, sources = keys.ngram_files(language), keys.ngram_sources(language)
    for _ in range(8):
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(files, sources)
                old_raw = pipe.hget(sources, path)
                if not old_raw:
                    return False
                known = _text(pipe.hget(files, path) or b"")
                old_text = _decompress(old_raw)
                pipe.multi()
                _apply(pipe, language, Counter(), count(old_text, language, order))
                if known.endswith(LINES_MARK):
                    lines.apply(pipe, language, lines.LineCounts(), lines.count(old_text),
                                _apply_counts)
                pipe.hdel(files, path)
                pipe.hdel(sources, path)
                pipe.execute()
                return True
            except redis_lib.WatchError:
                continue
    raise RuntimeError(f"could not forget {path}: it kept changing under concurrent learners")


def _decompress(raw: Any) -> str:
    data = raw if isinstance(raw, bytes) else str(raw).encode("latin-1")
    return zlib.decompress(data).decode("utf-8", "surrogatepass")


# Many increments per call: redis-py packs one command with many arguments about twice as
# fast as as many ZINCRBY commands. A count that falls to zero is a token that no longer
# follows the context anywhere, so it goes.
_APPLY = """
for i = 1, #KEYS do
  local delta = tonumber(ARGV[2 * i])
  local count = tonumber(redis.call('ZINCRBY', KEYS[i], delta, ARGV[2 * i - 1]))
  if delta < 0 and count <= 0 then redis.call('ZREM', KEYS[i], ARGV[2 * i - 1]) end
end
return #KEYS
"""
_APPLY_BATCH = 4000


def _apply(pipe: Any, language: str, new: Counter[tuple[str, str]],
           old: Counter[tuple[str, str]]) -> int:
    """Queue the changes from ``old`` counts to ``new`` on ``pipe``; how many counts change."""
    return _apply_counts(pipe, lambda h: keys.ngram(language, h), new, old)


def _apply_counts(pipe: Any, key_of: Callable[[str], str], new: Counter[tuple[str, str]],
                  old: Counter[tuple[str, str]]) -> int:
    """``_apply`` for any family of sorted sets: (key suffix, member) -> count."""
    names: list[str] = []
    args: list[str | int] = []
    changed = 0
    for item in new.keys() | old.keys():
        delta = new.get(item, 0) - old.get(item, 0)
        if delta:
            changed += 1
            names.append(key_of(item[0]))
            args += (item[1], delta)
            if len(names) == _APPLY_BATCH:
                queue_eval(pipe, _APPLY, names, args)
                names, args = [], []
    if names:
        queue_eval(pipe, _APPLY, names, args)
    return changed


@dataclass
class LearnReport:
    """What ``learn`` did: files learned anew or relearned, unchanged, forgotten, refused."""

    learned: list[str] = field(default_factory=list)
    """Files learned this run: ``new`` ones and changed ones."""
    new: int = 0
    seen: int = 0
    """Source files found under the paths."""
    unchanged: int = 0
    forgotten: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ngrams: int = 0
    """N-gram counts written (each a context and a token that followed it, counted up or down)."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {"seen": self.seen, "learned": len(self.learned), "new": self.new,
                "changed": len(self.learned) - self.new, "unchanged": self.unchanged,
                "forgotten": len(self.forgotten), "skipped": len(self.skipped),
                "ngrams": self.ngrams, "seconds": round(self.seconds, 3)}


def source_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str]]:
    """(absolute path, language) of every learnable file under ``paths``."""
    for root in paths:
        root = Path(root).resolve()
        if root.is_file():
            language = language_of("", root.name)
            if language:
                yield root, language
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(names):
                language = language_of("", name)
                if language and language not in ("json", "toml"):
                    yield Path(folder) / name, language


def learn(redis: Redis, paths: Iterable[str | os.PathLike[str]], order: int = ORDER, *,
          progress: Progress = quiet) -> LearnReport:
    """Learn every source file under ``paths``; forget learned files under them that are gone.
    ``progress`` hears of each file.

    >>> learn(r, ["~/src/project"]).as_dict()  # doctest: +SKIP
    {'seen': 42, 'learned': 42, 'new': 42, 'changed': 0, 'unchanged': 0, 'forgotten': 0, ...}
    """
    started = time.monotonic()
    report = LearnReport()
    roots = [Path(p).expanduser().resolve() for p in paths]
    seen: dict[str, set[str]] = {}
    found = list(source_files(roots))
    report.seen = len(found)
    for done, (path, language) in enumerate(found):
        progress("learning files", done, len(found))
        seen.setdefault(language, set()).add(str(path))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                report.skipped.append(str(path))
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            report.skipped.append(str(path))
            continue
        known = redis.hexists(keys.ngram_files(language), str(path))
        changed = _learn_text(redis, language, str(path), text, order)
        if changed is None:
            report.unchanged += 1
        else:
            report.learned.append(str(path))
            report.new += not known
            report.ngrams += changed
    progress("learning files", len(found), len(found))
    for language in _learned_languages(redis, seen):
        for raw in redis.hkeys(keys.ngram_files(language)):
            name = _text(raw)
            inside = any(name == str(r) or name.startswith(str(r) + os.sep) for r in roots)
            if inside and name not in seen.get(language, ()) and not os.path.exists(name):
                if forget(redis, language, name, order):
                    report.forgotten.append(name)
    report.seconds = time.monotonic() - started
    return report


def _learned_languages(redis: Redis, seen: dict[str, set[str]]) -> set[str]:
    languages = set(seen)
    prefix = keys.ngram_files("")
    head, _, tail = prefix.partition("{ngram:}")
    for raw in redis.scan_iter(match=f"{head}{{ngram:*}}{tail}", count=1000):
        name = _text(raw)
        languages.add(name[len(head) + len("{ngram:"):-len("}" + tail)])
    return languages


# -- completing -------------------------------------------------------------------------------


@dataclass
class Guess:
    """A completion and how sure the model was of each of its tokens."""

    text: str
    tokens: list[str]
    scores: list[float]
    end: float = 0.0
    """How sure the model was that the line ends where the text does (0: it stopped unsure)."""


class Completer:
    """Completes text at a cursor from the learned counts of one language."""

    def __init__(self, redis: Redis, language: str, order: int = ORDER,
                 min_score: float = MIN_SCORE, max_tokens: int = MAX_TOKENS,
                 pseudo: float = PSEUDO, local_weight: float = LOCAL_WEIGHT,
                 local_order: int = LOCAL_ORDER, next_line: bool = True) -> None:
        self.redis = redis
        self.next_line = next_line
        self.language = language
        self.order = order
        self.min_score = min_score
        self.max_tokens = max_tokens
        self.pseudo = pseudo
        self.local_weight = local_weight
        self.local_order = local_order

    def complete(self, before: str) -> Guess:
        """The likely rest of the line at the end of ``before`` (the text up to the cursor).

        The last word (or run of blanks) before the cursor may be unfinished: candidates are
        then limited to tokens that extend it, and only the missing part is returned. When the
        line looks complete, the guess is the line break and the whole next line.
        """
        head = before[-LOCAL_CHARS:]
        if len(before) > len(head):
            head = head[head.find("\n"):] if "\n" in head else head
        last_nl = head.rfind("\n")
        head = normalize(head[:last_nl]) + head[last_nl:] if last_nl >= 0 else head
        raw = ["\n", *tokenize(head, self.language)]
        partial = ""
        if len(raw) > 1 and (_WORD.match(raw[-1]) or _BLANK.match(raw[-1])):
            partial = raw.pop()
        indent = next(len(t) - t.rfind("\n") - 1 for t in reversed(raw) if t[0] == "\n")
        pad = "\t" if "\n\t" in head else " "
        tokens = relative(raw)
        local = _Local(tokens) if self.local_weight else None
        line_done = bool(head[last_nl + 1:].strip())
        out: list[str] = []
        scores: list[float] = []
        end = 0.0
        while len(out) < self.max_tokens:
            best, score = self._next(tokens, partial, local)
            if not best and partial and not out:
                # An unfinished word the model never saw here: take it as a whole token.
                tokens.append(partial)
                partial = ""
                continue
            if best[:1] == "\n":
                end = score
            if not best or score < self.min_score or "\0" in best:
                break
            if best[0] == "\n":
                breaks = best.count("\n")
                width = indent + _int(best[breaks:])
                if ("".join(out) or not line_done or score < NEXT_LINE_SCORE or width < 0
                        or not self.next_line):
                    break
                end = 0.0
                # The cursor's line is complete: the ghost text is the next line.
                line_done = False
                out.append("\n" * breaks + pad * width)
                indent = width
            else:
                out.append(best[len(partial):])
            scores.append(score)
            tokens.append(best)
            partial = ""
        if not "".join(out).strip():
            return Guess("", [], [])
        return Guess("".join(out), out, scores, end)

    def _next(self, tokens: list[str], partial: str, local: _Local | None) -> tuple[str, float]:
        longest = max(self.order, self.local_order if local is not None else 0) - 1
        contexts = [tokens[-n:] for n in range(longest, 0, -1) if len(tokens) >= n]
        pipe = self.redis.pipeline(transaction=False)
        top = 200 if partial else 8
        for ctx in contexts:
            if len(ctx) < self.order:
                pipe.zrevrange(keys.ngram(self.language, _hash(ctx)), 0, top, withscores=True)
        replies = pipe.execute()
        replies = [[]] * (len(contexts) - len(replies)) + replies
        best, best_score = "", 0.0
        weight = 1.0
        for ctx, reply in zip(contexts, replies, strict=True):
            counts: dict[str, float] = {}
            total = 0.0
            for member, score in reply:
                tok = _text(member)
                if tok == "":
                    total = float(score)
                elif tok.startswith(partial):
                    counts[tok] = float(score)
            near = local.counts(ctx) if local is not None else None
            if near:
                total += self.local_weight * sum(near.values())
                for tok, seen in near.items():
                    if tok.startswith(partial):
                        counts[tok] = counts.get(tok, 0.0) + self.local_weight * seen
            for tok, n in counts.items():
                p = weight * n / (total + self.pseudo)
                if p > best_score:
                    best, best_score = tok, p
            if total <= 0:
                continue  # an unseen context says nothing; backing off past it costs nothing
            if best_score >= weight * BACKOFF:
                # A shorter context scores at most weight * BACKOFF: none can beat this.
                break
            weight *= BACKOFF
        return best, best_score


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1 << 30  # not a line break this version wrote: never proposed


class _Local:
    """The n-grams of the text before the cursor: the file's own names and habits, which the
    project-wide model has not seen if the file is new. Indexed by token, so a lookup scans
    only the places where the context's last token occurs."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = list(tokens)
        self.where: dict[str, list[int]] = {}
        for i, tok in enumerate(self.tokens[:-1]):
            self.where.setdefault(tok, []).append(i)

    def counts(self, context: list[str]) -> Counter[str]:
        """How often each token followed ``context`` in the text before the cursor."""
        found: Counter[str] = Counter()
        n = len(context)
        tokens = self.tokens
        for i in self.where.get(context[-1], ()):
            if i + 1 >= n and tokens[i + 1 - n:i + 1] == context:
                found[tokens[i + 1]] += 1
        return found
