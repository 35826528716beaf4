"""The gates a candidate program passes before it goes live (``redis-ai evolve``).

A candidate is only ever text: it is read by this Lisp's reader, checked for names that reach
outside the language, loaded and run in the sandbox on examples (each a text that must or
must not be flagged), and scored. Nothing here evaluates a model's answer as Python or Elisp.

    refuse(source)            host access, or no program at all -> a reason, or None
    judge(source, examples)   -> Score: hits, misses, false hits, errors, per example
    split(examples)           -> (train, held_out), stable across runs
    passes(score)             the held-out gate: precision first, then recall
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..schema import language_of
from .data import Cons, LispError, Symbol
from .program import ANALYZE, Loader, Program, run_program
from .reader import read, split_forms

MIN_PRECISION = 1.0
"""Held-out precision a candidate needs to go live: by default it may flag no example that
must not be flagged."""
MIN_RECALL = 0.5
"""Held-out recall it needs: at least half the held-out examples that must be flagged."""
HELD_OUT = 1 / 3
"""Share of each class (must flag, must not) kept out of training."""
SHOWN_CHARS = 1200
"""Most characters of one example's text shown back to a model in feedback."""

HOST_NAMES = frozenset({
    "open", "eval", "exec", "load", "import", "__import__", "getattr", "setattr", "globals",
    "locals", "compile", "system", "shell-command", "shell-command-to-string", "call-process",
    "start-process", "make-process", "make-network-process", "url-retrieve", "read-file",
    "write-file", "write-region", "insert-file-contents", "find-file", "delete-file",
    "file-exists-p", "getenv", "setenv", "subprocess", "os", "sys", "socket", "python",
    "py-eval", "funcall-interactively", "require-python", "kill-emacs", "redis-call",
})
"""Names a program that tries to reach the host would use; none is bound in the language, and
a candidate that mentions one is refused before it runs, with the name as the reason."""


@dataclass
class Example:
    """A text the analyzer must (``flag``) or must not flag; ``lines``, when given, are the
    lines it must flag (no more, no fewer)."""

    text: str
    flag: bool
    file: str = "example.py"
    language: str = ""
    lines: list[int] | None = None
    split: str = ""
    """``train`` or ``held_out`` to place it by hand; empty: placed by ``split``."""
    name: str = ""

    def event(self) -> dict[str, Any]:
        """The event an editor would send for the whole of this example."""
        return {"v": 1, "editor": "evolve", "buffer": self.file, "file": self.file,
                "language": self.language or language_of("", self.file), "line": 1, "col": 0,
                "tick": 1, "text": self.text, "first_line": 1, "whole": True,
                "intent": "request"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        """An example from JSON: ``{"text", "flag", "file"?, "language"?, "lines"?, ...}``."""
        lines = data.get("lines")
        return cls(text=str(data["text"]), flag=bool(data["flag"]),
                   file=str(data.get("file") or "example.py"),
                   language=str(data.get("language") or ""),
                   lines=[int(n) for n in lines] if lines else None,
                   split=str(data.get("split") or ""), name=str(data.get("name") or ""))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``from_dict`` reads."""
        out: dict[str, Any] = {"text": self.text, "flag": self.flag, "file": self.file}
        for key in ("language", "split", "name"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.lines:
            out["lines"] = self.lines
        return out


@dataclass
class Outcome:
    """What a candidate did on one example: ``hit``, ``ok`` (rightly silent), ``miss``,
    ``false_hit`` or ``error``."""

    verdict: str
    flagged: list[int]
    must: bool
    """Whether the example must be flagged."""
    error: str = ""
    error_kind: str = ""


@dataclass
class Score:
    """A candidate's results on a set of examples."""

    outcomes: list[Outcome] = field(default_factory=list)
    refused: str = ""
    """Why the candidate was refused without running (host access, no analyze, a reader or
    load error): then no example ran."""
    refused_kind: str = ""
    steps: int = 0

    def count(self, verdict: str) -> int:
        """How many examples ended with ``verdict``."""
        return sum(o.verdict == verdict for o in self.outcomes)

    @property
    def precision(self) -> float:
        """Hits over everything flagged (1.0 when nothing was flagged and nothing wrongly)."""
        hits, false = self.count("hit"), self.count("false_hit")
        return 1.0 if hits + false == 0 else hits / (hits + false)

    @property
    def recall(self) -> float:
        """Hits over the examples that must be flagged (errors count as misses)."""
        must = sum(o.must for o in self.outcomes)
        return 1.0 if must == 0 else self.count("hit") / must

    @property
    def perfect(self) -> bool:
        """Every example right and no error."""
        return not self.refused and all(o.verdict in ("hit", "ok") for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        """The figures recorded with each candidate."""
        return {"hits": self.count("hit"), "ok": self.count("ok"), "misses": self.count("miss"),
                "false_hits": self.count("false_hit"), "errors": self.count("error"),
                "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "refused": self.refused, "steps": self.steps}


def _symbols(form: Any) -> Iterable[Symbol]:
    todo = [form]
    while todo:
        x = todo.pop()
        if type(x) is Symbol:
            yield x
        elif type(x) is Cons:
            todo.append(x.car)
            todo.append(x.cdr)


def refuse(forms: list[Any]) -> str:
    """Why ``forms`` may not run, or '' : a name that reaches for the host (files, processes,
    the network, Python) or attribute-style access such as ``os.system``."""
    for form in forms:
        for sym in _symbols(form):
            name = sym.name
            if name in HOST_NAMES or "__" in name or (
                    "." in name.strip(".") and not name.replace(".", "").isdigit()):
                return (f"refused: it uses {name}, which is outside the language (a program "
                        "cannot reach files, processes, the network or Python; only the "
                        "listed builtins exist)")
    return ""


def prepare(name: str, source: str, library: Mapping[str, list[str]]) -> tuple[Program | None, str, str]:
    """(the loaded candidate, '', '') or (None, reason, kind): read, refuse, load."""
    try:
        texts = split_forms(source) if source.strip() else []
        forms = [read(t) for t in texts]
    except LispError as exc:
        return None, f"reader error: {exc.message}", "read"
    if not forms:
        return None, "the answer holds no Lisp form", "read"
    reason = refuse(forms)
    if reason:
        return None, reason, "refused"
    sources = {**library, name: texts}
    try:
        env = Loader(lambda n: sources.get(n)).load(name)
    except LispError as exc:
        return None, f"loading failed: {exc}", exc.kind
    if ANALYZE not in env.vars:
        return None, "the program defines no (analyze) function", "error"
    return Program(name, analyze=env.vars[ANALYZE]), "", ""


def judge(name: str, source: str, examples: list[Example],
          library: Mapping[str, list[str]] | None = None, fuel: int | None = None) -> Score:
    """Read, check, load and run candidate ``source`` (as program ``name``, able to require
    the programs of ``library``) on every example, in the sandbox."""
    program, reason, kind = prepare(name, source, library or {})
    score = Score()
    if program is None:
        score.refused, score.refused_kind = reason, kind
        return score
    for ex in examples:
        cache: dict[str, Any] = {}
        items = run_program(program, ex.event(), cache, fuel=fuel, quiet=True)
        score.steps += cache.get("steps", 0)
        error = cache.get("errors", {}).get(name)
        if error is not None:
            kind = next((i["code"][5:] for i in items if i["code"].startswith("lisp-")), "error")
            score.outcomes.append(Outcome("error", [], ex.flag, error, kind))
            continue
        flagged = sorted({int(i["line"]) for i in items})
        if not ex.flag:
            verdict = "false_hit" if flagged else "ok"
        elif ex.lines:
            want = set(ex.lines)
            verdict = ("hit" if set(flagged) == want else
                       "miss" if not want <= set(flagged) else "false_hit")
        else:
            verdict = "hit" if flagged else "miss"
        score.outcomes.append(Outcome(verdict, flagged, ex.flag))
    return score


def passes(score: Score, min_precision: float = MIN_PRECISION,
           min_recall: float = MIN_RECALL) -> bool:
    """The held-out gate: no refusal, no error, precision at least ``min_precision`` (checked
    first), then recall at least ``min_recall``."""
    if score.refused or score.count("error"):
        return False
    return score.precision >= min_precision and score.recall >= min_recall


def split(examples: list[Example], held_out: float = HELD_OUT) -> tuple[list[Example], list[Example]]:
    """(train, held-out): examples marked by hand go where marked; of the others, about
    ``held_out`` of each class, picked by a hash of the text (the same on every run), at
    least one of a class that has two or more."""
    train = [e for e in examples if e.split == "train"]
    held = [e for e in examples if e.split == "held_out"]
    for flag in (True, False):
        rest = sorted((e for e in examples if not e.split and e.flag is flag),
                      key=lambda e: hashlib.sha256(e.text.encode()).hexdigest())
        n = round(len(rest) * held_out)
        if len(rest) >= 2:
            n = max(n, 1)
        held += rest[:n]
        train += rest[n:]
    return train, held


def feedback(score: Score, examples: list[Example]) -> str:
    """What went wrong, as text for the model's next attempt (only training examples)."""
    if score.refused:
        return f"Your program was not run: {score.refused}."
    out = []
    for k, (ex, o) in enumerate(zip(examples, score.outcomes, strict=True), 1):
        if o.verdict in ("hit", "ok"):
            continue
        what = {"miss": "must be flagged but nothing was" if not ex.lines else
                f"must be flagged on lines {ex.lines}, flagged {o.flagged or 'none'}",
                "false_hit": f"must NOT be flagged but lines {o.flagged} were" if not ex.flag
                else f"must be flagged on lines {ex.lines} only, flagged {o.flagged}",
                "error": f"the program failed ({o.error_kind}): {o.error}"}[o.verdict]
        text = ex.text if len(ex.text) <= SHOWN_CHARS else ex.text[:SHOWN_CHARS] + "\n..."
        out.append(f"Example {k} (file {ex.file}): {what}.\n```\n{text}\n```")
    return "\n\n".join(out)


__all__ = ["Example", "Outcome", "Score", "feedback", "judge", "passes", "prepare", "refuse",
           "split"]
