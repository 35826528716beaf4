"""The interpreter: evaluates Lisp data in environments, within a budget.

``evaluate`` loops instead of recursing wherever a form is in tail position (the last form of a
body, the branches of ``if``/``cond``, a call of a closure), so a loop written as a tail call
runs in constant Python stack. Each trip round the loop costs one step of fuel; builtins pay
more for the work they do (builtins.py). A run that spends all its fuel, nests deeper than its
depth limit, or builds a string or list past its size limit ends with a LispError of kind
``fuel``, ``depth`` or ``size``.

Special forms: quote if cond when unless and or let let* lambda define defun progn begin set!
setq (docs/lisp.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .data import NIL, SPECIAL_NAMES, Cons, LispError, Symbol, T, from_list
from .reader import to_string

FUEL = 200_000
"""Steps a run may take (about a tenth of a second of interpreting)."""
MAX_DEPTH = 600
"""Nested (non-tail) evaluations a run may have open at once."""
MAX_STRING = 2 << 20
"""Longest string a run may build, in characters (the event's text is at most 1 MiB)."""
MAX_LIST = 200_000
"""Longest list a builtin may build, and most lines ``buffer-lines`` gives."""

Value = Any
Tail = tuple[Value, "Env | None"]
"""What a special form returns: (value, None), or (form, env) to evaluate in tail position."""


class Env:
    """A frame of bindings; ``frozen`` ones refuse define and set! (builtins, loaded programs)."""

    __slots__ = ("vars", "outer", "frozen")

    def __init__(self, bindings: dict[Symbol, Value], outer: Env | None = None) -> None:
        self.vars = bindings
        self.outer = outer
        self.frozen = False

    def lookup(self, sym: Symbol) -> Value:
        env: Env | None = self
        while env is not None:
            value = env.vars.get(sym, _MISSING)
            if value is not _MISSING:
                return value
            env = env.outer
        raise LispError(f"unbound symbol {sym.name}")

    def define(self, sym: Symbol, value: Value) -> None:
        if self.frozen:
            raise LispError(f"cannot define {sym.name}: a loaded program's global bindings are "
                            "read-only (programs keep no state between events)")
        self.vars[sym] = value

    def assign(self, sym: Symbol, value: Value) -> None:
        env: Env | None = self
        while env is not None:
            if sym in env.vars:
                if env.frozen:
                    raise LispError(f"cannot set! {sym.name}: it is a builtin or a loaded "
                                    "program's global, which are read-only")
                env.vars[sym] = value
                return
            env = env.outer
        raise LispError(f"set! of unbound symbol {sym.name}")


_MISSING = object()


class Closure:
    """A lambda with the environment it was made in."""

    __slots__ = ("params", "required", "optional", "rest", "body", "env", "name", "simple")

    def __init__(self, params: Value, body: Value, env: Env, name: str = "lambda") -> None:
        self.required: list[Symbol] = []
        self.optional: list[Symbol] = []
        self.rest: Symbol | None = None
        mode = "required"
        for p in _proper(params, "parameter list"):
            if p is AMP_OPTIONAL or p is AMP_REST:
                mode = p.name
                continue
            check_bindable(p)
            if mode == "&rest":
                if self.rest is not None:
                    raise LispError("only one parameter may follow &rest")
                self.rest = p
            else:
                (self.optional if mode == "&optional" else self.required).append(p)
        self.params = params
        self.simple = not self.optional and self.rest is None
        self.body = _body_form(body)
        self.env = env
        self.name = name

    def bind(self, args: list[Value]) -> Env:
        n = len(args)
        req = len(self.required)
        if self.simple and n == req:
            return Env(dict(zip(self.required, args, strict=False)), self.env)
        if n < req or (self.rest is None and n > req + len(self.optional)):
            raise LispError(f"{self.name} takes {self._arity()} arguments, given {n}")
        bindings = dict(zip(self.required, args, strict=False))
        for k, sym in enumerate(self.optional):
            bindings[sym] = args[req + k] if req + k < n else NIL
        if self.rest is not None:
            bindings[self.rest] = from_list(args[req + len(self.optional):])
        return Env(bindings, self.env)

    def _arity(self) -> str:
        req = len(self.required)
        if self.rest is not None:
            return f"at least {req}"
        top = req + len(self.optional)
        return str(req) if top == req else f"{req} to {top}"

    def __repr__(self) -> str:
        return f"#<lambda {self.name}>"


class Builtin:
    """A primitive: ``fn(run, args)`` with ``args`` a Python list of evaluated values."""

    __slots__ = ("name", "fn", "min_args", "max_args")

    def __init__(self, name: str, fn: Callable[[Run, list[Value]], Value],
                 min_args: int, max_args: int | None) -> None:
        self.name = name
        self.fn = fn
        self.min_args = min_args
        self.max_args = max_args

    def __repr__(self) -> str:
        return f"#<builtin {self.name}>"


class Run:
    """One evaluation's budget and context: fuel, depth, size limits, the event, the program."""

    __slots__ = ("steps", "fuel", "depth", "max_depth", "max_string", "max_list", "program",
                 "event", "cache", "globals", "require")

    def __init__(self, *, fuel: int = FUEL, max_depth: int = MAX_DEPTH,
                 max_string: int = MAX_STRING, max_list: int = MAX_LIST, program: str = "",
                 event: dict[str, Any] | None = None, cache: dict[str, Any] | None = None) -> None:
        self.steps = 0
        self.fuel = fuel
        self.depth = 0
        self.max_depth = max_depth
        self.max_string = max_string
        self.max_list = max_list
        self.program = program
        self.event = event if event is not None else {}
        self.cache = cache if cache is not None else {}
        """Per-event values shared by the programs run on one event (``buffer-lines``)."""
        self.globals: Env | None = None
        self.require: Callable[[str, Run], None] | None = None

    def charge(self, steps: int) -> None:
        """Spend ``steps`` of fuel for work done outside the evaluation loop."""
        self.steps += steps
        if self.steps > self.fuel:
            raise LispError(f"out of fuel: the run took more than {self.fuel} steps", kind="fuel")

    def string(self, s: str) -> str:
        """``s``, checked against the size limit and paid for (one step per 64 characters)."""
        if len(s) > self.max_string:
            raise LispError(f"string of {len(s)} characters is over the limit of "
                            f"{self.max_string}", kind="size")
        self.charge(len(s) >> 6)
        return s

    def list(self, items: list[Value]) -> Value:
        """A Lisp list of ``items``, checked against the size limit and paid for."""
        if len(items) > self.max_list:
            raise LispError(f"list of {len(items)} elements is over the limit of "
                            f"{self.max_list}", kind="size")
        self.charge(len(items))
        return from_list(items)


AMP_OPTIONAL = Symbol.of("&optional")
AMP_REST = Symbol.of("&rest")
PROGN = Symbol.of("progn")
ELSE = Symbol.of("else")


def check_bindable(sym: Value) -> Symbol:
    """``sym`` if a program may bind it: a symbol, not ``t`` nor a special form's name."""
    if type(sym) is not Symbol:
        raise LispError(f"cannot bind {to_string(sym, limit=60)}: not a symbol")
    if sym is T or sym.name in SPECIAL_NAMES or sym.name.startswith("&"):
        raise LispError(f"cannot bind {sym.name}: it is reserved")
    return sym


def _proper(value: Value, what: str) -> list[Value]:
    out = []
    while type(value) is Cons:
        out.append(value.car)
        value = value.cdr
    if value is not NIL:
        raise LispError(f"{what} is not a proper list")
    return out


def _body_form(body: Value) -> Value:
    if body is NIL:
        return NIL
    if type(body) is Cons and body.cdr is NIL:
        return body.car
    return Cons(PROGN, body)


def evaluate(x: Value, env: Env, run: Run) -> Value:
    """The value of form ``x`` in ``env``, spending ``run``'s fuel."""
    run.depth += 1
    try:
        if run.depth > run.max_depth:
            raise LispError(f"too deep: more than {run.max_depth} nested evaluations "
                            "(use tail calls for loops)", kind="depth")
        while True:
            run.steps += 1
            if run.steps > run.fuel:
                raise LispError(f"out of fuel: the run took more than {run.fuel} steps",
                                kind="fuel")
            kind = type(x)
            if kind is Symbol:
                return env.lookup(x)
            if kind is not Cons:
                return x
            head = x.car
            if type(head) is Symbol:
                special = SPECIAL.get(head)
                if special is not None:
                    x, tail_env = special(x.cdr, env, run)
                    if tail_env is None:
                        return x
                    env = tail_env
                    continue
                fn = env.lookup(head)
            else:
                fn = evaluate(head, env, run)
            args = []
            cell = x.cdr
            while type(cell) is Cons:
                a = cell.car
                ka = type(a)
                if ka is Symbol:
                    args.append(env.lookup(a))
                elif ka is Cons:
                    args.append(evaluate(a, env, run))
                else:
                    args.append(a)
                cell = cell.cdr
            if type(fn) is Closure:
                env = fn.bind(args)
                x = fn.body
                continue
            return _call_builtin(fn, args, run)
    except LispError as exc:
        raise _located(exc, x) from None
    except RecursionError:
        raise LispError("too deep: Python's stack is exhausted", kind="depth",
                        form=to_string(x, limit=120)) from None
    finally:
        run.depth -= 1


def _located(exc: LispError, x: Value) -> LispError:
    """``exc`` with the innermost form it came from (outer evaluations leave it be)."""
    if exc.form is None:
        exc.form = to_string(x, limit=120)
    return exc


def _call_builtin(fn: Value, args: list[Value], run: Run) -> Value:
    if type(fn) is not Builtin:
        raise LispError(f"not a function: {to_string(fn, limit=60)}")
    n = len(args)
    if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
        want = (f"at least {fn.min_args}" if fn.max_args is None else str(fn.min_args)
                if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}")
        raise LispError(f"{fn.name} takes {want} arguments, given {n}")
    return fn.fn(run, args)


def call(fn: Value, args: list[Value], run: Run) -> Value:
    """Apply a closure or builtin to evaluated ``args`` (for builtins such as ``map``)."""
    if type(fn) is Closure:
        return evaluate(fn.body, fn.bind(args), run)
    return _call_builtin(fn, args, run)


# -- Special forms: each takes (the form's arguments, env, run) and returns a Tail ----------------

def _args(rest: Value, low: int, high: int | None, name: str) -> list[Value]:
    items = _proper(rest, name)
    if len(items) < low or (high is not None and len(items) > high):
        raise LispError(f"bad {name} form")
    return items


def _progn(body: Value, env: Env, run: Run) -> Tail:
    if type(body) is not Cons:
        if body is NIL:
            return NIL, None
        raise LispError("a body is not a proper list")
    while type(body.cdr) is Cons:
        evaluate(body.car, env, run)
        body = body.cdr
    return body.car, env


def _quote(rest: Value, env: Env, run: Run) -> Tail:
    return _args(rest, 1, 1, "quote")[0], None


def _if(rest: Value, env: Env, run: Run) -> Tail:
    items = _args(rest, 2, None, "if")
    if evaluate(items[0], env, run) is not NIL:
        return items[1], env
    return _progn(rest.cdr.cdr, env, run)


def _cond(rest: Value, env: Env, run: Run) -> Tail:
    while type(rest) is Cons:
        clause = rest.car
        if type(clause) is not Cons:
            raise LispError("bad cond clause")
        test = clause.car
        value = T if test is T or test is ELSE else evaluate(test, env, run)
        if value is not NIL:
            return (value, None) if clause.cdr is NIL else _progn(clause.cdr, env, run)
        rest = rest.cdr
    return NIL, None


def _when(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 1, None, "when")
    if evaluate(rest.car, env, run) is not NIL:
        return _progn(rest.cdr, env, run)
    return NIL, None


def _unless(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 1, None, "unless")
    if evaluate(rest.car, env, run) is NIL:
        return _progn(rest.cdr, env, run)
    return NIL, None


def _and(rest: Value, env: Env, run: Run) -> Tail:
    if type(rest) is not Cons:
        if rest is NIL:
            return T, None
        raise LispError("bad and form")
    while type(rest.cdr) is Cons:
        if evaluate(rest.car, env, run) is NIL:
            return NIL, None
        rest = rest.cdr
    return rest.car, env


def _or(rest: Value, env: Env, run: Run) -> Tail:
    if type(rest) is not Cons:
        if rest is NIL:
            return NIL, None
        raise LispError("bad or form")
    while type(rest.cdr) is Cons:
        value = evaluate(rest.car, env, run)
        if value is not NIL:
            return value, None
        rest = rest.cdr
    return rest.car, env


def _binding(spec: Value) -> tuple[Symbol, Value]:
    if type(spec) is Symbol:
        return check_bindable(spec), NIL
    items = _proper(spec, "let binding")
    if len(items) not in (1, 2):
        raise LispError("a let binding is (name value)")
    return check_bindable(items[0]), items[1] if len(items) == 2 else NIL


def _let(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 1, None, "let")
    if type(rest.car) is Symbol:  # named let: (let loop ((i 0)) ... (loop (+ i 1)))
        return _named_let(rest, env, run)
    bindings = {}
    specs = rest.car
    while type(specs) is Cons:
        spec = specs.car
        if type(spec) is Cons and type(spec.cdr) is Cons and spec.cdr.cdr is NIL:
            bindings[check_bindable(spec.car)] = evaluate(spec.cdr.car, env, run)
        else:
            sym, form = _binding(spec)
            bindings[sym] = evaluate(form, env, run)
        specs = specs.cdr
    if specs is not NIL:
        raise LispError("let bindings is not a proper list")
    return _progn(rest.cdr, Env(bindings, env), run)


def _named_let(rest: Value, env: Env, run: Run) -> Tail:
    name = check_bindable(rest.car)
    _args(rest.cdr, 1, None, "named let")
    specs = [_binding(spec) for spec in _proper(rest.cdr.car, "let bindings")]
    loop_env = Env({}, env)
    loop = Closure(from_list([sym for sym, _ in specs]), rest.cdr.cdr, loop_env, name.name)
    loop_env.vars[name] = loop
    args = [evaluate(form, env, run) for _, form in specs]
    return loop.body, loop.bind(args)


def _let_star(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 1, None, "let*")
    inner = Env({}, env)
    for spec in _proper(rest.car, "let* bindings"):
        sym, form = _binding(spec)
        inner.vars[sym] = evaluate(form, inner, run)
    return _progn(rest.cdr, inner, run)


def _lambda(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 1, None, "lambda")
    run.charge(1)
    return Closure(rest.car, rest.cdr, env), None


def _define(rest: Value, env: Env, run: Run) -> Tail:
    items = _args(rest, 1, None, "define")
    target = items[0]
    if type(target) is Cons:  # (define (name params...) body...)
        name = check_bindable(target.car)
        env.define(name, Closure(target.cdr, rest.cdr, env, name.name))
        return name, None
    name = check_bindable(target)
    if len(items) > 2:
        raise LispError("bad define form: (define name value) or (define (name args) body)")
    value = evaluate(items[1], env, run) if len(items) == 2 else NIL
    if type(value) is Closure and value.name == "lambda":
        value.name = name.name
    env.define(name, value)
    return name, None


def _defun(rest: Value, env: Env, run: Run) -> Tail:
    _args(rest, 2, None, "defun")
    name = check_bindable(rest.car)
    env.define(name, Closure(rest.cdr.car, rest.cdr.cdr, env, name.name))
    return name, None


def _set(rest: Value, env: Env, run: Run) -> Tail:
    items = _proper(rest, "set!")
    if not items or len(items) % 2:
        raise LispError("bad set! form: (set! name value ...)")
    value: Value = NIL
    for k in range(0, len(items), 2):
        sym = check_bindable(items[k])
        value = evaluate(items[k + 1], env, run)
        env.assign(sym, value)
    return value, None


SPECIAL: dict[Symbol, Callable[[Value, Env, Run], Tail]] = {
    Symbol.of(name): fn for name, fn in (
        ("quote", _quote), ("if", _if), ("cond", _cond), ("when", _when), ("unless", _unless),
        ("and", _and), ("or", _or), ("let", _let), ("let*", _let_star), ("lambda", _lambda),
        ("define", _define), ("defun", _defun), ("progn", _progn), ("begin", _progn),
        ("set!", _set), ("setq", _set),
    )
}
assert {s.name for s in SPECIAL} == SPECIAL_NAMES
