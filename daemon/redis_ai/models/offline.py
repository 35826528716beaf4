"""Offline completion of the cursor's line: whole learned lines first, n-grams second, and only
when the evidence makes it likely to be exactly right.

Candidates are the rest of a line that starts with what is typed on the cursor's line:

* lines that followed the previous line (or the two previous lines) at the same change of
  indentation, in the buffer before the cursor (counted BUFFER_WEIGHT times) and in the
  learned files (models/lines.py);
* lines anywhere in the buffer and the learned files that start with the typed prefix, counted
  a little less (ANYWHERE_WEIGHT), used when few distinct lines start with it;
* the n-gram model's walk to the end of the line (models/ngram.py), when it is sure the line
  ends there.

A candidate's confidence is its share of the evidence with PSEUDO added to the total, so one
sighting is never sure. The completion is offered only when that share reaches the threshold
of its position (line start or mid-line) and syntax (inside a string or comment or not). The
thresholds were chosen on the training half of the benchmark's projects only
(``redis-ai bench completion --calibrate``), never on the held-out half it reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import lines, ngram, point

if TYPE_CHECKING:
    from redis import Redis

BUFFER_WEIGHT = 2.0
"""A line of the file being written counts this many times a line of another file."""
ANYWHERE_WEIGHT = 0.8
"""Lines that start with the prefix after another previous line are weaker evidence."""
PSEUDO = 1.0
NGRAM_MIN_TOKENS = 1
THRESHOLDS = {("start", False): 0.666, ("start", True): 0.666,
              ("mid", False): 0.203, ("mid", True): 0.533}
"""(position, in a string or comment) -> least confidence an offer needs."""


@dataclass
class Offer:
    """The best candidate at a cursor, offered or not."""

    text: str
    confidence: float
    source: str
    """"after" (followed the previous line), "anywhere" (starts with the prefix), "ngram"."""
    position: str
    """"start" (nothing typed after the indentation) or "mid"."""
    prose: bool
    """Whether the cursor is inside a string or a comment."""

    @property
    def offered(self) -> bool:
        """Whether the confidence reaches the threshold of the offer's position and syntax."""
        return bool(self.text) and self.confidence >= THRESHOLDS[(self.position, self.prose)]


def best(redis: Redis, language: str, before: str,
         completer: ngram.Completer | None = None) -> Offer:
    """The most likely rest of the cursor's line and how sure the evidence makes it."""
    cut = before.rfind("\n")
    line = before[cut + 1:]
    typed = line.lstrip(" \t")
    position = "mid" if typed else "start"
    prose = point.in_prose(before, language)
    earlier = before[:cut] if cut >= 0 else ""
    prev2, prev, width = lines.last(earlier)
    shift = lines.indent(line) - width
    ctx, ctx2 = lines.context(prev, shift), lines.context2(prev2, prev, shift)
    found = lines.lookup(redis, language, ctx, ctx2, typed)
    after, after2, anywhere = _buffer(earlier, typed, prev2, prev, shift)
    _add(after, found.after)
    _add(after2, found.after2)
    scores: dict[str, tuple[float, str]] = {}
    _share(scores, after, typed, 1.0, "after")
    _share(scores, after2, typed, 1.0, "after")
    if typed and found.distinct <= lines.PREFIX_TOP:
        _add(anywhere, found.anywhere)
        _share(scores, anywhere, typed, ANYWHERE_WEIGHT, "anywhere")
    completer = completer or ngram.Completer(redis, language, next_line=False)
    guess = completer.complete(before)
    rest = point.balanced_cut(line, guess.text)
    if rest == guess.text and rest.strip() and len(guess.tokens) >= NGRAM_MIN_TOKENS:
        sure = guess.end
        for s in guess.scores:
            sure *= s
        whole = (typed + rest).rstrip()
        known, source = scores.get(whole, (0.0, "ngram"))
        # Two independent sources agreeing: the chance both are wrong is the product.
        scores[whole] = (1 - (1 - known) * (1 - sure), source if known else "ngram")
    if not scores:
        return Offer("", 0.0, "", position, prose)
    whole, (confidence, source) = max(scores.items(), key=lambda kv: kv[1][0])
    return Offer(whole[len(typed):], confidence, source, position, prose)


Counts = defaultdict[str, float]


def _buffer(text: str, typed: str, prev2: str, prev: str,
            shift: int) -> tuple[Counts, Counts, Counts]:
    """The buffer's lines that start with ``typed``: in the cursor's context, in its longer
    context, anywhere. One pass that builds no context strings: it runs on every keystroke
    over the whole text before the cursor."""
    after: Counts = defaultdict(float)
    after2: Counts = defaultdict(float)
    anywhere: Counts = defaultdict(float)
    b2, b1, width = "", "", 0
    for raw in text.split("\n"):
        body = raw.lstrip(" \t")
        if not body:
            continue
        here = len(raw) - len(body)
        body = body.rstrip()
        if body.startswith(typed):
            if b1 == prev and here - width == shift:
                after[body] += BUFFER_WEIGHT
                if b2 == prev2:
                    after2[body] += BUFFER_WEIGHT
            if typed:
                anywhere[body] += BUFFER_WEIGHT
        b2, b1, width = b1, body, here
    return after, after2, anywhere


def _add(counts: defaultdict[str, float], more: dict[str, float]) -> None:
    for text, n in more.items():
        counts[text] += n


def _share(scores: dict[str, tuple[float, str]], counts: dict[str, float], typed: str,
           weight: float, source: str) -> None:
    """Each candidate's share of ``counts`` (the typed line itself, finished, competes too)."""
    total = sum(counts.values()) + PSEUDO
    for text, n in counts.items():
        if len(text) > len(typed):
            share = weight * n / total
            if share > scores.get(text, (0.0, ""))[0]:
                scores[text] = (share, source)


def complete(redis: Redis, language: str, before: str) -> str:
    """The rest of the cursor's line if the model is confident enough, else ''."""
    offer = best(redis, language, before)
    return offer.text if offer.offered else ""
