"""The loop that writes an analyzer from a request in plain words (``redis-ai evolve``).

An author (a registry model with the capability ``lisp``, or the offline search of
variants.py) writes a candidate; the gates (gates.py) read it, refuse it if it reaches for the
host, and run it in the sandbox on the training examples; what went wrong goes back to the
author for the next generation, within a budget of generations and tokens. A candidate that
is right on the training examples is then judged on held-out examples it never saw, and only
one that passes them goes live (lineage.py stores it as a new version with its lineage).

    author.write(task, history) -> Draft      one candidate's text, its tokens and model
    evolve(task, author, budget) -> Result    every candidate with its scores, and the winner
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .gates import MIN_PRECISION, MIN_RECALL, Example, Score, feedback, judge, passes, split

OVERFIT_NOTE = ("Your program was right on every example shown, but wrong on other cases the "
                "user gave (not shown): make it general, with no special cases for the "
                "example texts.")


@dataclass
class Task:
    """What the author is asked for: a program ``name`` doing ``request``."""

    name: str
    request: str
    train: list[Example]
    held_out: list[Example]
    library: Mapping[str, list[str]] = field(default_factory=dict)
    """Stored programs the candidate may ``require``: name -> forms."""
    kind: str = "diagnostics"
    parent: str = ""
    """The live program's source when improving one (its version is in ``parent_version``)."""
    parent_version: int = 0


@dataclass
class Draft:
    """One answer of an author."""

    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


@dataclass
class Attempt:
    """A candidate and the note that goes back to the author about it."""

    source: str
    note: str


class Author(Protocol):
    """Writes candidates: a model through its provider, or the offline search."""

    def write(self, task: Task, history: list[Attempt]) -> Draft:
        """The next candidate, given the earlier ones and what was wrong with them."""


@dataclass
class Budget:
    """When the loop gives up: after ``generations`` candidates or ``tokens`` tokens."""

    generations: int = 5
    tokens: int = 60_000
    min_precision: float = MIN_PRECISION
    min_recall: float = MIN_RECALL
    fuel: int | None = None


@dataclass
class Candidate:
    """One generation's candidate with its scores (recorded whether it won or not)."""

    generation: int
    source: str
    model: str
    train: dict[str, Any]
    held_out: dict[str, Any] | None = None
    live: bool = False
    tokens: int = 0
    cost: float = 0.0
    ms: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON recorded for the candidate."""
        return {"generation": self.generation, "model": self.model, "train": self.train,
                "held_out": self.held_out, "live": self.live, "tokens": self.tokens,
                "cost": self.cost, "ms": round(self.ms, 1), "note": self.note[:2000],
                "source": self.source}


@dataclass
class Result:
    """What a run of the loop produced."""

    candidates: list[Candidate]
    winner: Candidate | None
    tokens: int
    cost: float
    seconds: float
    reason: str
    """Why it stopped: ``live``, ``generations`` or ``tokens``."""


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)


def extract(text: str) -> str:
    """The program in a model's answer: the first fenced block (any language tag: a block
    tagged python is still only read as Lisp, and refused), else the whole answer."""
    match = _FENCE.search(text)
    return (match.group(2) if match else text).strip()


def _judge(task: Task, source: str, examples: list[Example], budget: Budget) -> Score:
    return judge(task.name, source, examples, task.library, budget.fuel)


def evolve(task: Task, author: Author, budget: Budget | None = None) -> Result:
    """Run generations until a candidate is right on every training and held-out example (it
    goes live at once) or the budget is spent. A candidate that passes the gate (precision,
    then recall) on both without being perfect is kept as a fallback, and the best fallback
    (held-out recall, then training recall) goes live when the budget ends."""
    budget = budget or Budget()
    started = time.monotonic()
    history: list[Attempt] = []
    candidates: list[Candidate] = []
    tokens, cost = 0, 0.0
    fallback: Candidate | None = None
    reason = "generations"
    for generation in range(1, budget.generations + 1):
        if tokens >= budget.tokens:
            reason = "tokens"
            break
        t0 = time.monotonic()
        draft = author.write(task, history)
        source = extract(draft.text)
        train = _judge(task, source, task.train, budget)
        spent = draft.tokens_in + draft.tokens_out
        tokens += spent
        cost += draft.cost
        cand = Candidate(generation, source, draft.model, train.summary(), tokens=spent,
                         cost=draft.cost)
        candidates.append(cand)
        if passes(train, budget.min_precision, budget.min_recall):
            held = _judge(task, source, task.held_out, budget)
            cand.held_out = held.summary()
            if passes(held, budget.min_precision, budget.min_recall):
                if train.perfect and held.perfect:
                    cand.live, cand.ms = True, (time.monotonic() - t0) * 1000
                    return Result(candidates, cand, tokens, cost,
                                  time.monotonic() - started, "live")
                if fallback is None or _better(cand, fallback):
                    fallback = cand
            cand.note = feedback(train, task.train) if not train.perfect else OVERFIT_NOTE
        else:
            cand.note = feedback(train, task.train)
        cand.ms = (time.monotonic() - t0) * 1000
        history.append(Attempt(source, cand.note))
    if fallback is not None:
        fallback.live = True
    return Result(candidates, fallback, tokens, cost, time.monotonic() - started,
                  "live" if fallback else reason)


def _better(a: Candidate, b: Candidate) -> bool:
    """Whether fallback ``a`` beats ``b``: held-out recall first, then training recall."""
    ha, hb = a.held_out or {}, b.held_out or {}
    return (ha.get("recall", 0), a.train["recall"]) > (hb.get("recall", 0), b.train["recall"])


def make_task(name: str, request: str, examples: list[Example],
              library: Mapping[str, list[str]] | None = None, **extra: Any) -> Task:
    """A task with ``examples`` split into training and held-out ones (gates.split)."""
    train, held = split(examples)
    return Task(name, request, train, held, dict(library or {}), **extra)


__all__ = ["Attempt", "Author", "Budget", "Candidate", "Draft", "Result", "Task", "evolve",
           "extract", "make_task"]
