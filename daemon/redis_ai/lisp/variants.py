"""The offline author: a search over program variants, for ``redis-ai evolve --offline``.

Programs are data, so new ones are built by combining pieces: line tests taken from the
examples (a literal the flagged lines contain, a prefix they start with, a length over a
constant), the one-argument predicates of the user's stored programs (reused by ``require``),
and exclusions (a literal or prefix of the lines that must not be flagged, a literal of the
files that must not be). Each variant is written as program text and judged in the sandbox by
gates.judge on the training examples, like a model's answer; the search is greedy: the best
single tests, then each with one exclusion, then a second exclusion or a second test. Each
``write`` returns the best variant not returned yet, so a variant that overfits and fails the
held-out gate is followed by the next best.

Python only picks which pieces to try (by counting where the literals occur in the examples);
no candidate runs outside the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .data import Cons, LispError
from .eval import Closure
from .evolve import Attempt, Draft, Task
from .gates import Example, Score, judge
from .program import ANALYZE, Loader
from .reader import read, to_string

MAX_TESTS = 12
"""Line tests kept after counting (those that cover the most flagged lines)."""
MAX_EXCLUSIONS = 16
BEAM = 4
"""Best variants of one stage extended in the next."""

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s?\(?|[^\sA-Za-z0-9_]{1,3}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
COMMENT_MARKERS = ("#", "//", ";", "--", "/*", "*")


@dataclass(frozen=True)
class Piece:
    """A test on a line's ``text`` (or, ``on_file``, on the event's ``file``), as Lisp."""

    lisp: str
    needle: str = ""
    """The literal a flagged line must contain (lets the program scan with buffer-lines-with)."""
    on_file: bool = False
    require: str = ""
    cost: int = 1
    """Weight in a variant's size: a literal taken from the lines that must not be flagged
    costs 2, as it is the likeliest to fit only the examples."""


@dataclass
class Variant:
    tests: tuple[Piece, ...]
    exclusions: tuple[Piece, ...] = ()

    def source(self, name: str, message: str) -> str:
        """The variant as a program."""
        lines = [f";; {name}: written by the offline search (lisp/variants.py)"]
        for lib in sorted({p.require for p in (*self.tests, *self.exclusions) if p.require}):
            lines.append(f"(require '{lib})")
        line_tests = " ".join(p.lisp for p in self.tests)
        line_excl = " ".join(p.lisp for p in self.exclusions if not p.on_file)
        file_excl = " ".join(p.lisp for p in self.exclusions if p.on_file)
        body = f"(or {line_tests})" if len(self.tests) > 1 else line_tests
        if line_excl:
            body = f"(and {body} (not (or {line_excl})))"
        lines.append(f"(define (flag-line-p text)\n  {body})")
        lines.append(f"(define (flag-file-p file)\n  {f'(not (or {file_excl}))' if file_excl else 't'})")
        needles = [p.needle for p in self.tests]
        scan = ("(buffer-lines-with " + " ".join(_lit(n) for n in needles) + ")"
                if all(needles) else "(buffer-lines)")
        lines.append(
            "(define (analyze)\n"
            "  (when (flag-file-p (or (event-get 'file) \"\"))\n"
            f"    (map (lambda (entry) (diagnostic (car entry) 0 {_lit(message)} 'warning "
            f"{_lit(name)}))\n"
            f"         (filter (lambda (entry) (flag-line-p (cdr entry))) {scan}))))")
        return "\n\n".join(lines) + "\n"

    def size(self) -> int:
        """The variant's weight: simpler variants are preferred among equally good ones."""
        return sum(p.cost for p in (*self.tests, *self.exclusions))


def _lit(s: str) -> str:
    return to_string(s)


def _lines(ex: Example) -> tuple[list[str], list[str]]:
    """(lines that must be flagged, lines that must not) of one example."""
    texts = ex.text.split("\n")
    if not ex.flag:
        return [], texts
    if ex.lines:
        want = set(ex.lines)
        return ([t for n, t in enumerate(texts, 1) if n in want],
                [t for n, t in enumerate(texts, 1) if n not in want])
    return [t for t in texts if t.strip()], []


def _tokens(text: str) -> set[str]:
    out = {m.group(0).rstrip() for m in _TOKEN.finditer(text)}
    code = text.strip()
    for n in (1, 2, 3):
        out.add(code[:n])
    first = _TOKEN.match(code)
    if first:
        out.add(first.group(0))
    return {t for t in out if len(t.strip()) >= 2}


def helpers(library: Mapping[str, list[str]]) -> list[Piece]:
    """The one-argument functions of the stored programs, as line tests (``require``d)."""
    out = []
    loader = Loader(lambda n: library.get(n))
    for name in sorted(library):
        try:
            env = loader.load(name)
        except LispError:
            continue
        for sym, value in env.vars.items():
            if (type(value) is Closure and sym is not ANALYZE and len(value.required) == 1
                    and not value.optional and value.rest is None):
                out.append(Piece(f"({sym.name} text)", require=name))
    return out


def _constants(library: Mapping[str, list[str]]) -> set[int]:
    out: set[int] = set()
    for forms in library.values():
        for text in forms:
            try:
                todo = [read(text)]
            except LispError:
                continue
            while todo:
                x = todo.pop()
                if type(x) is int and 10 <= x <= 1000:
                    out.add(x)
                elif type(x) is Cons:
                    todo += [x.car, x.cdr]
    return out


@dataclass
class Search:
    """The pieces for one task, and every variant judged so far with its training score."""

    task: Task
    message: str
    tried: dict[str, tuple[Variant, Score]] = field(default_factory=dict)
    judged: int = 0

    def pieces(self) -> tuple[list[Piece], list[Piece]]:
        """(line tests, exclusions) worth trying, best first by how they split the lines."""
        pos: list[str] = []
        neg: list[str] = []
        for ex in self.task.train:
            p, n = _lines(ex)
            pos += p
            neg += n
        coverage: dict[str, int] = {}
        for line in pos:
            for tok in _tokens(line):
                coverage[tok] = coverage.get(tok, 0) + 1
        in_neg = {tok: sum(tok in line for line in neg) for tok in coverage}
        ranked = sorted(coverage, key=lambda t: (-coverage[t] + in_neg[t] / (len(neg) + 1),
                                                 -len(t), t))
        tests = [Piece(f"(string-contains text {_lit(t)})", needle=t) for t in ranked[:MAX_TESTS]]
        starts: dict[str, int] = {}
        for line in pos:
            word = _WORD.match(line.strip())
            if word:
                for start in {word.group(0), line.strip()[:len(word.group(0)) + 1]}:
                    starts[start] = starts.get(start, 0) + 1
        for start in sorted(starts, key=lambda t: (-starts[t], len(t)))[:MAX_TESTS // 2]:
            tests.append(Piece(f"(string-prefix-p {_lit(start)} (string-trim text))", needle=start))
        # Length thresholds: the stored programs' constants, and the two edges the examples
        # give (the longest line that must not be flagged, one less than the shortest that
        # must); the smallest comes first, as it flags the most while the examples allow it.
        edges = {len(line) for line in neg[-1:] and [max(neg, key=len)]}
        edges |= {len(line) - 1 for line in pos[-1:] and [min(pos, key=len)]}
        for k in sorted(_constants(self.task.library) | edges):
            tests.append(Piece(f"(> (length text) {k})"))
        tests = list(dict.fromkeys([*tests, *helpers(self.task.library)]))
        pos_tokens = set().union(*(_tokens(line) for line in pos)) if pos else set()
        excl_count: dict[str, int] = {}
        for line in neg:
            for tok in _tokens(line) - pos_tokens:
                excl_count[tok] = excl_count.get(tok, 0) + 1
        exclusions = [Piece(f"(string-prefix-p {_lit(m)} (string-trim text))")
                      for m in COMMENT_MARKERS]
        exclusions += [Piece(f"(string-contains text {_lit(t)})", cost=2)
                       for t in sorted(excl_count, key=lambda t: (-excl_count[t], t))[:MAX_EXCLUSIONS]]
        for ex in self.task.train:
            if not ex.flag:
                pos_files = [e.file for e in self.task.train if e.flag]
                for part in re.split(r"[/._]", ex.file):
                    if len(part) >= 3 and not any(part in f for f in pos_files):
                        exclusions.append(Piece(f"(string-contains file {_lit(part)})",
                                                on_file=True))
        return tests, list(dict.fromkeys(exclusions))

    def judge(self, variant: Variant) -> Score:
        source = variant.source(self.task.name, self.message)
        if source not in self.tried:
            self.judged += 1
            self.tried[source] = (variant, judge(self.task.name, source, self.task.train,
                                                 self.task.library))
        return self.tried[source][1]

    def best(self, variants: list[Variant]) -> list[Variant]:
        """The variants to extend: the best ranked, and those that find the most (an
        exclusion can still mend their precision, nothing can mend a miss)."""
        by_rank = sorted(variants, key=lambda v: _rank(self.judge(v), v))[:BEAM]
        by_recall = sorted(variants, key=lambda v: (-self.judge(v).recall,
                                                    *_rank(self.judge(v), v)))[:BEAM]
        return list({id(v): v for v in (*by_rank, *by_recall)}.values())

    def run(self) -> None:
        """Judge the variants of every stage."""
        tests, exclusions = self.pieces()
        singles = self.best([Variant((t,)) for t in tests])
        stage: list[Variant] = list(singles)
        for _ in range(2):
            grown: list[Variant] = []
            for v in stage:
                if self.judge(v).perfect:
                    continue
                grown += [Variant(v.tests, (*v.exclusions, e)) for e in exclusions
                          if e not in v.exclusions]
                grown += [Variant((*v.tests, t), v.exclusions) for t in tests if t not in v.tests]
            if not grown:
                break
            stage = self.best(grown)

    def ranked(self) -> list[str]:
        """Every source judged, best first."""
        return sorted(self.tried, key=lambda s: _rank(self.tried[s][1], self.tried[s][0]))


def _rank(score: Score, variant: Variant) -> tuple[Any, ...]:
    errors = score.count("error") + (len(score.outcomes) + 1 if score.refused else 0)
    wrong = score.count("miss") + score.count("false_hit")
    return (errors, score.precision < 1.0, wrong, -score.recall, variant.size())


class VariantAuthor:
    """Writes candidates by searching variants; needs no network and spends no tokens."""

    model = "offline-search"

    def __init__(self) -> None:
        self.search: Search | None = None
        self.given: set[str] = set()

    def write(self, task: Task, history: list[Attempt]) -> Draft:
        """The best variant not yet given (the search runs on the first call)."""
        if self.search is None or self.search.task is not task:
            self.search = Search(task, _message(task.request))
            self.search.run()
            self.given = set()
        for source in self.search.ranked():
            if source not in self.given:
                self.given.add(source)
                return Draft(source, self.model)
        return Draft(";; the search has no variant left\n", self.model)


def _message(request: str) -> str:
    text = request.strip().rstrip(".")
    return (text[:1].upper() + text[1:])[:200] or "flagged"


__all__ = ["Piece", "Search", "Variant", "VariantAuthor", "helpers"]
