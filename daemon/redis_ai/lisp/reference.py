"""The language reference a model is given when it writes a program (``redis-ai evolve``).

``reference()`` is built from the interpreter itself: the names come from ``BUILTINS`` and
``SPECIAL_NAMES`` and the arities from each builtin's registration, and only the one-line
usage notes below are written by hand. A test checks that the notes and the code name the
same functions, so the reference cannot drift from what a program can actually call.
"""

from __future__ import annotations

from .builtins import BUILTINS, EVENT_FIELDS, SEVERITIES
from .data import SPECIAL_NAMES
from .eval import FUEL

SPECIAL_DOCS: dict[str, str] = {
    "quote": "(quote X) or 'X: X unevaluated",
    "if": "(if TEST THEN ELSE...): the else forms are a body; no else gives nil",
    "cond": "(cond (TEST BODY...) ... (t BODY...)): the first clause whose test is true",
    "when": "(when TEST BODY...)",
    "unless": "(unless TEST BODY...)",
    "and": "(and X...): short-circuit; (and) is t",
    "or": "(or X...): short-circuit; (or) is nil",
    "let": "(let ((NAME VALUE)...) BODY...), or named let (let LOOP ((VAR INIT)...) BODY...) "
           "for loops",
    "let*": "(let* ((NAME VALUE)...) BODY...): sequential bindings",
    "lambda": "(lambda (PARAMS) BODY...): PARAMS may use &optional and &rest",
    "define": "(define NAME VALUE) or (define (NAME PARAMS...) BODY...)",
    "defun": "(defun NAME (PARAMS...) BODY...)",
    "progn": "(progn BODY...): the value of the last form",
    "begin": "(begin BODY...): same as progn",
    "set!": "(set! NAME VALUE): assign a local binding (globals are read-only after loading)",
    "setq": "(setq NAME VALUE): same as set!",
}

BUILTIN_DOCS: dict[str, str] = {
    "+": "(+ N...) sum", "-": "(- N...) difference, or negation of one", "*": "(* N...) product",
    "/": "(/ N...) quotient; of integers it truncates", "mod": "(mod A B) remainder",
    "=": "(= N...) numeric equality (chainable)", "/=": "(/= A B...) numbers differ",
    "<": "(< N...) increasing", ">": "(> N...) decreasing", "<=": "(<= N...)", ">=": "(>= N...)",
    "abs": "(abs N)", "min": "(min N...)", "max": "(max N...)", "1+": "(1+ N)", "1-": "(1- N)",
    "floor": "(floor N)", "ceiling": "(ceiling N)", "round": "(round N)",
    "truncate": "(truncate N)", "float": "(float N)",
    "null": "(null X) t if X is nil", "not": "(not X) t if X is nil",
    "atom": "(atom X) t unless X is a cons", "consp": "(consp X)", "listp": "(listp X)",
    "numberp": "(numberp X)", "integerp": "(integerp X)", "floatp": "(floatp X)",
    "stringp": "(stringp X)", "symbolp": "(symbolp X)", "functionp": "(functionp X)",
    "zerop": "(zerop X)", "eq": "(eq A B) same symbol, or same number or string",
    "eql": "(eql A B) same as eq", "equal": "(equal A B) structural equality",
    "cons": "(cons A B) a pair", "car": "(car LIST) first element (nil of nil)",
    "cdr": "(cdr LIST) the rest (nil of nil)", "cadr": "(cadr LIST) second element",
    "list": "(list X...)", "length": "(length LIST-OR-STRING)",
    "append": "(append LIST...)", "reverse": "(reverse LIST)", "nth": "(nth N LIST) 0-based",
    "last": "(last LIST) the last element", "member": "(member X LIST) the tail from X (equal)",
    "assoc": "(assoc KEY ALIST) the pair whose car is KEY (equal)",
    "map": "(map F LIST) the list of (F X)", "mapcar": "(mapcar F LIST) same as map",
    "filter": "(filter PRED LIST) the elements for which PRED is true",
    "reduce": "(reduce F INIT LIST) left fold, F gets the accumulator first",
    "apply": "(apply F LIST)", "funcall": "(funcall F ARG...)",
    "sort": "(sort LIST LESS-P)", "number-sequence": "(number-sequence FROM TO) inclusive",
    "concat": "(concat STRING...)",
    "substring": "(substring S FROM [TO]) negative indexes count from the end",
    "string-contains": "(string-contains HAYSTACK NEEDLE) index of NEEDLE or nil (literal)",
    "string-prefix-p": "(string-prefix-p PREFIX S)", "string-suffix-p": "(string-suffix-p SUFFIX S)",
    "split-string": "(split-string S [SEP]) literal separator; none: runs of whitespace",
    "string-join": "(string-join LIST [SEP])",
    "string-replace": "(string-replace FROM TO S) literal",
    "upcase": "(upcase S)", "downcase": "(downcase S)",
    "string-trim": "(string-trim S) without whitespace at both ends",
    "string=": "(string= A B)", "string<": "(string< A B)",
    "symbol-name": "(symbol-name SYM)", "number-to-string": "(number-to-string N)",
    "string-to-number": "(string-to-number S) the number, or nil",
    "format": "(format FMT ARG...) directives %s %S %d %% only",
    "error": "(error FMT ARG...) end the run with that message",
    "event-get": "(event-get 'FIELD) a field of the event being analyzed, nil if absent",
    "buffer-lines": "(buffer-lines) the text as a list of (LINE . TEXT), LINE the buffer line",
    "buffer-lines-with": "(buffer-lines-with NEEDLE...) the (LINE . TEXT) entries whose text "
                         "contains one of the literal NEEDLES (fast: prefer it to a loop)",
    "diagnostic": "(diagnostic LINE COL MESSAGE [SEVERITY [CODE]]) an item from COL to the "
                  "end of LINE",
    "hint": "(hint LINE MESSAGE [CODE]) an item over the text of LINE",
    "require": "(require 'NAME) at top level: copy stored program NAME's definitions in",
}


def _arity(name: str) -> str:
    fn = BUILTINS[name]
    if fn.max_args is None:
        return f"{fn.min_args}+ args"
    if fn.min_args == fn.max_args:
        return f"{fn.min_args} arg{'s' if fn.min_args != 1 else ''}"
    return f"{fn.min_args}-{fn.max_args} args"


def reference() -> str:
    """The language as a model needs it: syntax, special forms, builtins with their arities,
    the event's fields and the shape of ``analyze``.

    >>> "buffer-lines-with" in reference()
    True
    """
    special = "\n".join(f"- {SPECIAL_DOCS[n]}" for n in sorted(SPECIAL_NAMES))
    builtins = "\n".join(f"- {BUILTIN_DOCS[n]}  [{_arity(n)}]" for n in sorted(BUILTINS))
    return f"""\
# The redis-ai Lisp (a small sandboxed Lisp; Scheme/Emacs-Lisp flavoured)

Syntax: integers, floats, strings with \\n \\t \\" \\\\ escapes, symbols, 'x, (a b c),
(a . b), nil or () (the empty list, also false), ; comments. No backquote, no # syntax,
no regular expressions, no I/O, no Python, no Emacs Lisp beyond what is listed here.
Everything but nil is true (0 and "" too). Predicates return t or nil.
A run has {FUEL} steps of fuel: loop with tail calls or named let; never loop forever.
Globals are read-only once the program has loaded: keep state in let bindings.

## Special forms
{special}

## Builtins (nothing else exists)
{builtins}

## The event
(event-get 'FIELD) with FIELD one of: {", ".join(sorted(EVENT_FIELDS))}.
Severities: {", ".join(SEVERITIES)}.

## An analyzer
A program is a sequence of top-level forms. It must define (analyze), with no arguments,
which returns a list of items built by diagnostic or hint (or nil when nothing is found):

(define (analyze)
  (map (lambda (entry) (diagnostic (car entry) 0 "message" 'warning "code"))
       (filter (lambda (entry) (string-contains (cdr entry) "needle"))
               (buffer-lines-with "needle"))))
"""


__all__ = ["BUILTIN_DOCS", "SPECIAL_DOCS", "reference"]
