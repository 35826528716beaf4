"""The primitives: functions over plain Lisp data, the event being analyzed, and result items.

Each is ``fn(run, args)``. None reaches Python or the host: there is no I/O, no clock, no
randomness, no attribute access and no regular expression (a Python regex cannot be interrupted
by the step budget; string search here is literal, and linear). Builtins that build or scan
strings and lists pay fuel in proportion (``Run.string``, ``Run.list``, ``_walk``), so the
budget bounds the time and memory of a run, not just its number of calls.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from .data import NIL, Cons, LispError, Symbol, T, truth
from .eval import Builtin, Closure, Env, Run, Value, call
from .reader import INT_LIMIT, parse_number, to_string

BUILTINS: dict[str, Builtin] = {}

SEVERITIES = ("error", "warning", "info", "hint")
EVENT_FIELDS = frozenset({
    "text", "file", "language", "line", "col", "keys", "command", "intent", "first_line",
    "buffer", "mode", "whole", "tick", "editor", "region",
})


def builtin(name: str, min_args: int, max_args: int | None = -1) -> Callable[[Any], Any]:
    """Register ``fn(run, args)`` as the builtin ``name``; ``max_args`` -1 means ``min_args``,
    None means any number."""
    def register(fn: Callable[[Run, list[Value]], Value]) -> Callable[[Run, list[Value]], Value]:
        BUILTINS[name] = Builtin(name, fn, min_args, min_args if max_args == -1 else max_args)
        return fn
    return register


def global_env() -> Env:
    """A fresh global environment for one program: every builtin and ``t``.

    The builtins are copied into it rather than kept in an outer frame, which saves a dict
    lookup on every call of a builtin; a program that redefines one changes only its own copy.
    """
    env = Env({Symbol.of(name): fn for name, fn in BUILTINS.items()})
    env.vars[T] = T
    return env


# -- Checking arguments -----------------------------------------------------------------------

def _type_error(who: str, want: str, got: Value) -> LispError:
    return LispError(f"{who}: expected {want}, got {to_string(got, limit=60)}")


def _num(who: str, v: Value) -> int | float:
    if type(v) is int or type(v) is float:
        return v
    raise _type_error(who, "a number", v)


def _int(who: str, v: Value) -> int:
    if type(v) is int:
        return v
    raise _type_error(who, "an integer", v)


def _str(who: str, v: Value) -> str:
    if type(v) is str:
        return v
    raise _type_error(who, "a string", v)


def _checked(who: str, n: int | float) -> int | float:
    if type(n) is int and not -INT_LIMIT <= n <= INT_LIMIT:
        raise LispError(f"{who}: integer overflow (integers are 64-bit)", kind="size")
    return n


def _walk(run: Run, who: str, v: Value) -> list[Value]:
    """The elements of the proper list ``v`` (one step of fuel per 8 elements)."""
    out = []
    while type(v) is Cons:
        out.append(v.car)
        v = v.cdr
    if v is not NIL:
        raise _type_error(who, "a list", v)
    run.charge(len(out) >> 3)
    return out


# -- Numbers ----------------------------------------------------------------------------------

@builtin("+", 0, None)
def _add(run: Run, args: list[Value]) -> Value:
    return _checked("+", sum(_num("+", a) for a in args))


@builtin("*", 0, None)
def _mul(run: Run, args: list[Value]) -> Value:
    out: int | float = 1
    for a in args:
        out = _checked("*", out * _num("*", a))
    return out


@builtin("-", 1, None)
def _sub(run: Run, args: list[Value]) -> Value:
    first = _num("-", args[0])
    if len(args) == 1:
        return _checked("-", -first)
    return _checked("-", first - sum(_num("-", a) for a in args[1:]))


@builtin("/", 1, None)
def _div(run: Run, args: list[Value]) -> Value:
    nums = [_num("/", a) for a in args]
    if len(nums) == 1:
        nums.insert(0, 1)
    out = nums[0]
    for d in nums[1:]:
        if d == 0:
            if type(out) is int and type(d) is int:
                raise LispError("/: division by zero")
            out = math.copysign(math.inf, out) if out else math.nan
        elif type(out) is int and type(d) is int:
            out = abs(out) // abs(d) * (1 if (out >= 0) == (d > 0) else -1)  # truncates like Elisp
        else:
            out = out / d
    return _checked("/", out)


@builtin("mod", 2)
def _mod(run: Run, args: list[Value]) -> Value:
    a, b = _num("mod", args[0]), _num("mod", args[1])
    if b == 0:
        raise LispError("mod: division by zero")
    return a % b


def _numeric_compare(name: str, test: Callable[[Any, Any], bool]) -> None:
    def compare(run: Run, args: list[Value]) -> Value:
        nums = [_num(name, a) for a in args]
        return truth(all(test(x, y) for x, y in zip(nums, nums[1:], strict=False)))
    BUILTINS[name] = Builtin(name, compare, 1, None)


for _name, _test in (("=", lambda x, y: x == y), ("<", lambda x, y: x < y),
                     (">", lambda x, y: x > y), ("<=", lambda x, y: x <= y),
                     (">=", lambda x, y: x >= y), ("/=", lambda x, y: x != y)):
    _numeric_compare(_name, _test)


@builtin("abs", 1)
def _abs(run: Run, args: list[Value]) -> Value:
    return _checked("abs", abs(_num("abs", args[0])))


@builtin("min", 1, None)
def _min(run: Run, args: list[Value]) -> Value:
    return min(_num("min", a) for a in args)


@builtin("max", 1, None)
def _max(run: Run, args: list[Value]) -> Value:
    return max(_num("max", a) for a in args)


@builtin("1+", 1)
def _inc(run: Run, args: list[Value]) -> Value:
    return _checked("1+", _num("1+", args[0]) + 1)


@builtin("1-", 1)
def _dec(run: Run, args: list[Value]) -> Value:
    return _checked("1-", _num("1-", args[0]) - 1)


def _rounding(name: str, fn: Callable[[float], int]) -> None:
    def rounded(run: Run, args: list[Value]) -> Value:
        x = _num(name, args[0])
        if math.isinf(x) or math.isnan(x):
            raise LispError(f"{name}: {to_string(x)} has no integer value")
        return _checked(name, fn(x))
    BUILTINS[name] = Builtin(name, rounded, 1, 1)


for _name, _fn in (("floor", math.floor), ("ceiling", math.ceil), ("round", round),
                   ("truncate", math.trunc)):
    _rounding(_name, _fn)


@builtin("float", 1)
def _float(run: Run, args: list[Value]) -> Value:
    return float(_num("float", args[0]))


# -- Predicates and equality ------------------------------------------------------------------

def _predicate(name: str, test: Callable[[Value], bool]) -> None:
    BUILTINS[name] = Builtin(name, lambda run, args: truth(test(args[0])), 1, 1)


for _pred_name, _pred in (
    ("null", lambda v: v is NIL), ("not", lambda v: v is NIL),
    ("atom", lambda v: type(v) is not Cons), ("consp", lambda v: type(v) is Cons),
    ("listp", lambda v: v is NIL or type(v) is Cons),
    ("numberp", lambda v: type(v) in (int, float)), ("integerp", lambda v: type(v) is int),
    ("floatp", lambda v: type(v) is float), ("stringp", lambda v: type(v) is str),
    ("symbolp", lambda v: type(v) is Symbol or v is NIL),
    ("functionp", lambda v: type(v) in (Closure, Builtin)),
    ("zerop", lambda v: type(v) in (int, float) and v == 0),
):
    _predicate(_pred_name, _pred)


def _eql(a: Value, b: Value) -> bool:
    if a is b:
        return True
    return type(a) is type(b) and type(a) in (int, float, str) and a == b


def equal(a: Value, b: Value, run: Run | None = None) -> bool:
    """Structural equality, without recursion (lists may be long or deep); with ``run``, one
    step of fuel per 8 pairs compared (lists may share structure, so the walk can be far
    longer than any list: it is paid for as it goes)."""
    todo = [(a, b)]
    visited = 0
    while todo:
        x, y = todo.pop()
        visited += 1
        if type(x) is Cons and type(y) is Cons:
            todo.append((x.cdr, y.cdr))
            todo.append((x.car, y.car))
        elif not _eql(x, y):
            break
        elif type(x) is str:
            visited += len(x) >> 7
        if visited >= 1024 and run is not None:
            run.charge(visited >> 3)
            visited = 0
    else:
        if run is not None:
            run.charge(visited >> 3)
        return True
    if run is not None:
        run.charge(visited >> 3)
    return False


@builtin("eq", 2)
def _eq(run: Run, args: list[Value]) -> Value:
    return truth(_eql(args[0], args[1]))


BUILTINS["eql"] = Builtin("eql", _eq, 2, 2)


@builtin("equal", 2)
def _equal(run: Run, args: list[Value]) -> Value:
    return truth(equal(args[0], args[1], run))


# -- Lists ------------------------------------------------------------------------------------

@builtin("cons", 2)
def _cons(run: Run, args: list[Value]) -> Value:
    return Cons(args[0], args[1])


@builtin("car", 1)
def _car(run: Run, args: list[Value]) -> Value:
    v = args[0]
    if type(v) is Cons:
        return v.car
    if v is NIL:
        return NIL
    raise _type_error("car", "a list", v)


@builtin("cdr", 1)
def _cdr(run: Run, args: list[Value]) -> Value:
    v = args[0]
    if type(v) is Cons:
        return v.cdr
    if v is NIL:
        return NIL
    raise _type_error("cdr", "a list", v)


@builtin("cadr", 1)
def _cadr(run: Run, args: list[Value]) -> Value:
    return _car(run, [_cdr(run, args)])


@builtin("list", 0, None)
def _list(run: Run, args: list[Value]) -> Value:
    return run.list(args)


@builtin("length", 1)
def _length(run: Run, args: list[Value]) -> Value:
    v = args[0]
    if type(v) is str:
        return len(v)
    return len(_walk(run, "length", v))


@builtin("append", 0, None)
def _append(run: Run, args: list[Value]) -> Value:
    if not args:
        return NIL
    items: list[Value] = []
    for a in args[:-1]:
        items += _walk(run, "append", a)
    tail = args[-1]
    if len(items) > run.max_list:
        run.list(items)
    run.charge(len(items))
    for item in reversed(items):
        tail = Cons(item, tail)
    return tail


@builtin("reverse", 1)
def _reverse(run: Run, args: list[Value]) -> Value:
    return run.list(_walk(run, "reverse", args[0])[::-1])


@builtin("nth", 2)
def _nth(run: Run, args: list[Value]) -> Value:
    n, v = _int("nth", args[0]), args[1]
    run.charge(max(n, 0) >> 3)
    while n > 0 and type(v) is Cons:
        v, n = v.cdr, n - 1
    return v.car if type(v) is Cons and n == 0 else NIL


@builtin("last", 1)
def _last(run: Run, args: list[Value]) -> Value:
    items = _walk(run, "last", args[0])
    return items[-1] if items else NIL


@builtin("member", 2)
def _member(run: Run, args: list[Value]) -> Value:
    v = args[1]
    while type(v) is Cons:
        run.charge(1)
        if equal(args[0], v.car, run):
            return v
        v = v.cdr
    return NIL


@builtin("assoc", 2)
def _assoc(run: Run, args: list[Value]) -> Value:
    for pair in _walk(run, "assoc", args[1]):
        if type(pair) is Cons and equal(args[0], pair.car, run):
            return pair
    return NIL


@builtin("map", 2)
def _map(run: Run, args: list[Value]) -> Value:
    fn = args[0]
    return run.list([call(fn, [x], run) for x in _walk(run, "map", args[1])])


BUILTINS["mapcar"] = Builtin("mapcar", _map, 2, 2)


@builtin("filter", 2)
def _filter(run: Run, args: list[Value]) -> Value:
    fn = args[0]
    return run.list([x for x in _walk(run, "filter", args[1]) if call(fn, [x], run) is not NIL])


@builtin("reduce", 3)
def _reduce(run: Run, args: list[Value]) -> Value:
    fn, acc = args[0], args[1]
    for x in _walk(run, "reduce", args[2]):
        acc = call(fn, [acc, x], run)
    return acc


@builtin("apply", 2)
def _apply(run: Run, args: list[Value]) -> Value:
    return call(args[0], _walk(run, "apply", args[1]), run)


@builtin("funcall", 1, None)
def _funcall(run: Run, args: list[Value]) -> Value:
    return call(args[0], args[1:], run)


@builtin("sort", 2)
def _sort(run: Run, args: list[Value]) -> Value:
    items = _walk(run, "sort", args[0])
    fn = args[1]
    run.charge(len(items) * max(len(items), 1).bit_length())  # one step per comparison

    def compare(a: Value, b: Value) -> int:
        if call(fn, [a, b], run) is not NIL:
            return -1
        return 1 if call(fn, [b, a], run) is not NIL else 0

    return run.list(sorted(items, key=functools.cmp_to_key(compare)))


@builtin("number-sequence", 2)
def _number_sequence(run: Run, args: list[Value]) -> Value:
    low, high = _int("number-sequence", args[0]), _int("number-sequence", args[1])
    count = max(high - low + 1, 0)
    if count > run.max_list:
        raise LispError(f"number-sequence: {count} elements is over the limit of "
                        f"{run.max_list}", kind="size")
    return run.list(list(range(low, high + 1)))


# -- Strings and symbols ----------------------------------------------------------------------

def display(v: Value, limit: int) -> str:
    """``v`` as ``%s`` shows it: strings without quotes; printing stops past ``limit``
    characters (a list may share structure and print far longer than its size)."""
    return v if type(v) is str else to_string(v, readable=False, limit=limit)


@builtin("concat", 0, None)
def _concat(run: Run, args: list[Value]) -> Value:
    total = sum(len(_str("concat", a)) for a in args)
    if total > run.max_string:
        raise LispError(f"string of {total} characters is over the limit of "
                        f"{run.max_string}", kind="size")
    return run.string("".join(args))


def _index(who: str, n: int, size: int) -> int:
    i = n + size if n < 0 else n
    if not 0 <= i <= size:
        raise LispError(f"{who}: index {n} out of range for length {size}")
    return i


@builtin("substring", 2, 3)
def _substring(run: Run, args: list[Value]) -> Value:
    s = _str("substring", args[0])
    start = _index("substring", _int("substring", args[1]), len(s))
    end = len(s) if len(args) < 3 or args[2] is NIL else _index(
        "substring", _int("substring", args[2]), len(s))
    if end < start:
        raise LispError(f"substring: end {end} is before start {start}")
    return run.string(s[start:end])


@builtin("string-contains", 2)
def _string_contains(run: Run, args: list[Value]) -> Value:
    hay, needle = _str("string-contains", args[0]), _str("string-contains", args[1])
    run.charge(len(hay) >> 10)
    i = hay.find(needle)
    return NIL if i < 0 else i


@builtin("string-prefix-p", 2)
def _prefix(run: Run, args: list[Value]) -> Value:
    prefix = _str("string-prefix-p", args[0])
    run.charge(len(prefix) >> 10)
    return truth(_str("string-prefix-p", args[1]).startswith(prefix))


@builtin("string-suffix-p", 2)
def _suffix(run: Run, args: list[Value]) -> Value:
    suffix = _str("string-suffix-p", args[0])
    run.charge(len(suffix) >> 10)
    return truth(_str("string-suffix-p", args[1]).endswith(suffix))


@builtin("split-string", 1, 2)
def _split_string(run: Run, args: list[Value]) -> Value:
    s = _str("split-string", args[0])
    run.charge(len(s) >> 6)
    if len(args) < 2 or args[1] is NIL:
        return run.list(s.split())
    sep = _str("split-string", args[1])
    if not sep:
        raise LispError("split-string: empty separator")
    return run.list(s.split(sep))


@builtin("string-join", 1, 2)
def _string_join(run: Run, args: list[Value]) -> Value:
    parts = [_str("string-join", p) for p in _walk(run, "string-join", args[0])]
    sep = _str("string-join", args[1]) if len(args) > 1 and args[1] is not NIL else ""
    total = sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0)
    if total > run.max_string:
        raise LispError(f"string of {total} characters is over the limit of "
                        f"{run.max_string}", kind="size")
    return run.string(sep.join(parts))


@builtin("string-replace", 3)
def _string_replace(run: Run, args: list[Value]) -> Value:
    old, new, s = (_str("string-replace", a) for a in args)
    if not old:
        raise LispError("string-replace: empty string to replace")
    count = s.count(old)
    if len(s) + count * (len(new) - len(old)) > run.max_string:
        raise LispError("string-replace: result is over the string size limit", kind="size")
    return run.string(s.replace(old, new))


@builtin("upcase", 1)
def _upcase(run: Run, args: list[Value]) -> Value:
    return run.string(_str("upcase", args[0]).upper())


@builtin("downcase", 1)
def _downcase(run: Run, args: list[Value]) -> Value:
    return run.string(_str("downcase", args[0]).lower())


@builtin("string-trim", 1)
def _string_trim(run: Run, args: list[Value]) -> Value:
    return run.string(_str("string-trim", args[0]).strip())


@builtin("string=", 2)
def _string_eq(run: Run, args: list[Value]) -> Value:
    a, b = _str("string=", args[0]), _str("string=", args[1])
    run.charge(min(len(a), len(b)) >> 10)
    return truth(a == b)


@builtin("string<", 2)
def _string_lt(run: Run, args: list[Value]) -> Value:
    a, b = _str("string<", args[0]), _str("string<", args[1])
    run.charge(min(len(a), len(b)) >> 10)
    return truth(a < b)


@builtin("symbol-name", 1)
def _symbol_name(run: Run, args: list[Value]) -> Value:
    v = args[0]
    if type(v) is Symbol:
        return v.name
    if v is NIL:
        return "nil"
    raise _type_error("symbol-name", "a symbol", v)


@builtin("number-to-string", 1)
def _number_to_string(run: Run, args: list[Value]) -> Value:
    return to_string(_num("number-to-string", args[0]))


@builtin("string-to-number", 1)
def _string_to_number(run: Run, args: list[Value]) -> Value:
    s = _str("string-to-number", args[0]).strip()
    if not s or len(s) > 40:
        return NIL
    # parse_number, not the reader: reading would intern a symbol for every string tried.
    value = parse_number(s)
    if value is None or (type(value) is int and not -INT_LIMIT <= value <= INT_LIMIT):
        return NIL
    return value


@builtin("format", 1, None)
def _format(run: Run, args: list[Value]) -> Value:
    """``%s`` shows a value, ``%S`` prints it readably, ``%d`` an integer, ``%%`` a percent."""
    fmt = _str("format", args[0])
    out: list[str] = []
    size = 0
    rest = iter(args[1:])
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        if j + 1 >= len(fmt):
            raise LispError("format: '%' at the end of the format string")
        directive = fmt[j + 1]
        if directive == "%":
            out.append("%")
        else:
            value = next(rest, _NO_ARG)
            if value is _NO_ARG:
                raise LispError("format: not enough arguments")
            if directive == "s":
                text = display(value, run.max_string)
            elif directive == "S":
                text = to_string(value, limit=run.max_string)
            elif directive == "d":
                number = _num("format", value)
                text = str(int(number)) if math.isfinite(number) else to_string(number)
            else:
                raise LispError(f"format: unknown directive %{directive} (use %s %S %d %%)")
            if type(value) is not str:
                run.charge(len(text) >> 3)  # printing works token by token, in Python
            out.append(text)
            size += len(text)
            if size > run.max_string:
                raise LispError("format: result is over the string size limit", kind="size")
        i = j + 2
    return run.string("".join(out))


_NO_ARG = object()


@builtin("error", 1, None)
def _error(run: Run, args: list[Value]) -> Value:
    raise LispError(_format(run, args))


# -- The event being analyzed -----------------------------------------------------------------

def _field(name: Value) -> str:
    if type(name) is Symbol:
        return name.name
    if type(name) is str:
        return name
    raise _type_error("event-get", "a symbol or string", name)


@builtin("event-get", 1)
def _event_get(run: Run, args: list[Value]) -> Value:
    name = _field(args[0]).replace("-", "_")
    if name not in EVENT_FIELDS:
        raise LispError(f"event-get: unknown field {name} (known: {', '.join(sorted(EVENT_FIELDS))})")
    value = run.event.get(name, 1 if name == "first_line" else NIL)
    if value is True or value is False:
        return truth(value)
    if type(value) in (int, float, str):
        return value
    if type(value) is list:
        return run.list([v for v in value if type(v) is int])
    return NIL


def event_lines(run: Run) -> list[str]:
    """The lines of the event's text, split once per event (shared by its programs)."""
    lines = run.cache.get("lines")
    if lines is None:
        text = run.event.get("text", "")
        lines = run.cache["lines"] = (text if type(text) is str else "").split("\n")
    return lines


@builtin("buffer-lines", 0)
def _buffer_lines(run: Run, args: list[Value]) -> Value:
    """A list of ``(LINE . TEXT)``, LINE being the buffer line (``first_line`` counted)."""
    built = run.cache.get("buffer-lines")
    if built is None:
        lines = event_lines(run)
        if len(lines) > run.max_list:
            raise LispError(f"buffer-lines: {len(lines)} lines is over the limit of "
                            f"{run.max_list}", kind="size")
        first = run.event.get("first_line", 1)
        first = first if type(first) is int else 1
        built = NIL
        for n in range(len(lines) - 1, -1, -1):
            built = Cons(Cons(first + n, lines[n]), built)
        run.cache["buffer-lines"] = built
    run.charge(1 + (len(event_lines(run)) >> 3))
    return built


@builtin("buffer-lines-with", 1, None)
def _buffer_lines_with(run: Run, args: list[Value]) -> Value:
    """The ``(LINE . TEXT)`` entries of ``buffer-lines`` whose text contains one of the NEEDLES
    (literal strings). The scan runs in Python, so a program looks only at the lines that
    matter: far cheaper than a Lisp loop over every line."""
    needles = [_str("buffer-lines-with", a) for a in args]
    lines = event_lines(run)
    # Fuel in proportion to the work: about one step per eight line tests and per KiB scanned
    # per needle (a step is about a microsecond), so a 1 MiB single line costs what it takes.
    text = run.event.get("text", "")
    chars = len(text) if type(text) is str else 0
    run.charge(1 + ((len(lines) >> 3) + (chars >> 10)) * len(needles))
    first = run.event.get("first_line", 1)
    first = first if type(first) is int else 1
    return run.list([Cons(first + n, text) for n, text in enumerate(lines)
                     if any(needle in text for needle in needles)])


def _line_text(run: Run, line: int) -> str | None:
    first = run.event.get("first_line", 1)
    lines = event_lines(run)
    k = line - (first if type(first) is int else 1)
    return lines[k] if 0 <= k < len(lines) else None


def _pair(key: str, value: Value) -> Cons:
    return Cons(Symbol.of(key), value)


@builtin("diagnostic", 3, 5)
def _diagnostic(run: Run, args: list[Value]) -> Value:
    """(diagnostic LINE COL MESSAGE [SEVERITY [CODE]]): spans from COL to the end of the line."""
    line, col = _int("diagnostic", args[0]), _int("diagnostic", args[1])
    message = _str("diagnostic", args[2])
    severity = "warning"
    if len(args) > 3 and args[3] is not NIL:
        severity = _field(args[3])
        if severity not in SEVERITIES:
            raise LispError(f"diagnostic: severity must be one of {', '.join(SEVERITIES)}")
    code = _str("diagnostic", args[4]) if len(args) > 4 else "lisp"
    text = _line_text(run, line)
    end_col = max(col, len(text)) if text is not None else col
    return run.list([_pair("line", line), _pair("col", col), _pair("end_line", line),
                     _pair("end_col", end_col), _pair("severity", severity),
                     _pair("message", message), _pair("code", code)])


@builtin("hint", 2, 3)
def _hint(run: Run, args: list[Value]) -> Value:
    """(hint LINE MESSAGE [CODE]): spans the line's text, from its first non-blank character."""
    line, message = _int("hint", args[0]), _str("hint", args[1])
    code = _str("hint", args[2]) if len(args) > 2 else "lisp"
    text = _line_text(run, line) or ""
    col = len(text) - len(text.lstrip())
    return run.list([_pair("line", line), _pair("col", col), _pair("end_line", line),
                     _pair("end_col", len(text)), _pair("message", message),
                     _pair("code", code)])


@builtin("require", 1)
def _require(run: Run, args: list[Value]) -> Value:
    name = _field(args[0])
    if run.require is None:
        raise LispError("require: only while a program loads (at its top level), not in analyze")
    run.require(name, run)
    return T
