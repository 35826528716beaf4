"""Property tests with hypothesis, where the types and the names make them honest.

Strategies come from the annotations (``int`` -> ``st.integers()``, ``list[str]`` ->
``st.lists(st.text())``, ``Optional``/``|`` unions, the module's own Enums by
``st.from_type``); a parameter without an annotation keeps its default, and one without either
means no property test. Properties written:

* **round trip**: ``decode(encode(x)) == x`` for a pair of the module's functions named as
  inverses (encode/decode, dumps/loads, quote/unquote, to_X/from_X, ...), both of one argument;
* **idempotence**: ``f(f(x)) == f(x)`` for normalisers (``normalize``, ``canonical``, ``strip``,
  ``clean``, ``dedupe``, ...) whose result has the type of their argument;
* **given back**: ``f(x) is x`` for a function whose every ``return`` gives back one parameter
  that nothing rebinds (a validator: ``if not ok: raise ...; return value``);
* **contract**: for any typed arguments the function either raises one of the exceptions its own
  body raises (those inputs are rejected, not failed) or returns what its annotation says.

Floats are drawn without NaN and infinities, which would make equality properties fail on
correct code; integers between -1000 and 1000 (a count of a billion is a hang, not a finding);
text also from the short strings the body uses, which random text rarely hits.
"""

from __future__ import annotations

import ast
import re

from .locate import Param, Reach, Target, is_builtin_exception, snake
from .signature import generator, invocation, return_check
from .writer import Test

_SIMPLE = {"int": "st.integers(min_value=-1000, max_value=1000)", "float": "st.floats(allow_nan=False, allow_infinity=False)",
           "str": "st.text(max_size=20)", "bytes": "st.binary(max_size=20)",
           "bool": "st.booleans()", "complex": "st.complex_numbers(allow_nan=False, "
           "allow_infinity=False)", "None": "st.none()", "bytearray": "st.binary().map(bytearray)"}
_LISTS = frozenset({"list", "List", "Sequence", "MutableSequence", "Iterable", "Collection"})
_SETS = {"set": "st.sets", "Set": "st.sets", "frozenset": "st.frozensets",
         "FrozenSet": "st.frozensets", "AbstractSet": "st.frozensets"}
_DICTS = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
_NAMED = {"encoding": "st.sampled_from(['utf-8', 'ascii', 'latin-1'])",
          "charset": "st.sampled_from(['utf-8', 'ascii', 'latin-1'])",
          "errors": "st.sampled_from(['strict', 'replace', 'ignore'])"}
"""Text parameters whose name says the few values they take (a codec's name)."""
_BUILTIN_TYPES = frozenset({"int", "float", "str", "bytes", "bool", "complex", "list", "dict",
                            "set", "frozenset", "tuple", "bytearray", "type", "None", "range"})
_UNDRAWABLE = frozenset({"Any", "object", "Self", "TypeVar", "Never", "NoReturn"})
"""Annotations that say nothing hypothesis could draw from (or anything at all)."""
_INVERSES = [("encode", "decode"), ("dumps", "loads"), ("serialize",
             "deserialize"), ("serialise", "deserialise"), ("compress", "decompress"),
             ("quote", "unquote"), ("escape", "unescape"), ("pack", "unpack"),
             ("encrypt", "decrypt"), ("marshal", "unmarshal"), ("to_", "from_"),
             ("wrap", "unwrap"), ("flatten", "unflatten")]
_IDEMPOTENT = re.compile(r"(^|_)(normali[sz]e[ds]?|canonical(i[sz]e)?|clean(ed)?|strip(ped)?|"
                         r"sanitize[ds]?|dedupe?|unique|simplif(y|ied)|collapse|squash|"
                         r"slugify|dedent)($|_)")
_SETTINGS = "max_examples=50, deadline=None, derandomize=True"
"""Few examples (a verification must stay short), no deadline (a loaded machine is slow), and
the same examples on every run, so that what passed when offered passes again."""
_EXCEPTION_WORD = re.compile(r"\b([A-Z]\w*(?:Error|Exception))\b")


def property_tests(target: Target, reach: Reach,
                   others: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
                   ) -> tuple[list[Test], str | None]:
    """The property tests for the function, or why there are none. ``others``: the module's other functions by name (for round trips)."""
    strategies = _strategies(target, target.params)
    if strategies is None:
        return [], "a required parameter has no annotation hypothesis can draw from"
    if generator(target.function):
        return [], "a generator: nothing to say of its result"
    tests = []
    allowed = _own_exceptions(target)
    name = snake(target.qualname)
    given = ", ".join(f"{p}={s}" for p, s in strategies.items())
    if len(given) > 80:
        given = "\n" + "".join(f"    {p}={s},\n" for p, s in strategies.items())
    call = invocation(target, reach.call, ", ".join(_pass(p) for p in target.params
                                                        if p.name in strategies))
    decorators = (f"@settings({_SETTINGS}, suppress_health_check=[HealthCheck.filter_too_much])"
                  f"\n@given({given})\n"
                  if strategies else "")
    signature = ", ".join(strategies)
    refused = ("reject()  # inputs its own guards refuse" if strategies else
               "pytest.skip('it refuses the state it is called in')")
    caught = _caught(allowed)
    guarded = (f"    try:\n        result = {call}\n    except {caught}:\n"
               f"        {refused}\n") if allowed else f"    result = {call}\n"
    single = [p for p in target.params if not p.has_default]
    roundtrip = None if target.owner else _round_trip(target, others, single)
    if roundtrip is not None:
        forward, backward = roundtrip
        first = (others[forward].args.posonlyargs + others[forward].args.args)[0]
        drawn = strategy_for(target, first.annotation)
        if drawn is not None:
            target.imports.update({forward, backward})
            test = f"test_{snake(forward)}_{snake(backward)}_round_trip"
            tests.append(Test(test, f"@settings({_SETTINGS})\n"
                                    f"@given(value={drawn})\ndef {test}(value):\n"
                                    f"    assert {backward}({forward}(value)) == value\n",
                              "property"))
    if (_IDEMPOTENT.search(target.function.name) and len(single) == 1 and len(strategies) == 1
            and _same_type(target, single[0])):
        test = f"test_{name}_is_idempotent"
        again = invocation(target, reach.call, "result")
        tests.append(Test(test, f"{decorators}def {test}({signature}):\n{guarded}"
                                f"    assert {again} == result\n", "property"))
    given_back = _returned_parameter(target)
    if given_back is not None and given_back in strategies:
        # The property is about what it returns, not what it accepts: any refusal is a
        # rejected input here (an undeclared one is the contract test's to report).
        test = f"test_{name}_returns_its_{snake(given_back)}"
        tests.append(Test(test, f"{decorators}def {test}({signature}):\n"
                                f"    try:\n        result = {call}\n    except Exception:\n"
                                f"        reject()  # refused: nothing returned to check\n"
                                f"    assert result is {given_back}\n", "property"))
    check = return_check(target)
    if check is not None:
        test = f"test_{name}_returns_{check[0]}"
        tests.append(Test(test, f"{decorators}def {test}({signature}):\n{guarded}"
                                f"    {check[1]}\n", "returns"))
    if not tests:
        return [], "no property fits (no inverse, not a normaliser, no return annotation)"
    return tests, None


def _returned_parameter(target: Target) -> str | None:
    """The parameter the function always returns as it was given (``return value`` ends the
    body, every ``return`` returns it, nothing rebinds it): ``f(x) is x`` for any input it
    accepts. None when that is not plain from the source."""
    function = target.function
    if isinstance(function, ast.AsyncFunctionDef) or generator(function) or not function.body:
        return None
    last = function.body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Name)):
        return None
    name = last.value.id
    if name not in {p.name for p in target.params}:
        return None
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue  # a nested scope's returns and names are its own
        if isinstance(node, ast.Return) and not (
                isinstance(node.value, ast.Name) and node.value.id == name):
            return None
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            return None
        if isinstance(node, ast.Global | ast.Nonlocal) and name in node.names:
            return None
        stack.extend(ast.iter_child_nodes(node))
    return name


def attribute_tests(target: Target, reach: Reach) -> tuple[list[Test], str | None]:
    """For a property: what reading it on a built instance gives, checked against its return
    annotation."""
    check = return_check(target)
    if check is None:
        return [], "a property without a return annotation to check"
    name = f"test_{snake(target.qualname)}_is_{check[0]}"
    allowed = _own_exceptions(target)
    read = reach.call
    body = (f"    try:\n        result = {read}\n    except {_caught(allowed)}:\n"
            f"        pytest.skip('it refuses the state it is read in')\n")
    return [Test(name, f"def {name}():\n{body}    {check[1]}\n", "returns")], None


def _caught(allowed: list[str]) -> str:
    return allowed[0] if len(allowed) == 1 else f"({', '.join(allowed)})"


def _pass(param: Param) -> str:
    return f"{param.name}={param.name}" if param.keyword_only else param.name


def _strategies(target: Target, params: list[Param]
                ) -> dict[str, str] | None:
    """A strategy per parameter drawn (required ones, and defaulted ones that are annotated);
    None when a required one has none."""
    found: dict[str, str] = {}
    skipped_default = False
    for param in params:
        strategy = _NAMED.get(param.name) if _is_str(param.annotation) else None
        strategy = strategy or strategy_for(target, param.annotation)
        if strategy is None or skipped_default and not param.keyword_only:
            if not param.has_default:
                return None
            skipped_default = True  # later positional ones would shift: keep them default
            continue
        found[param.name] = strategy
    return found


def _is_str(annotation: ast.expr | None) -> bool:
    return annotation is not None and ast.unparse(annotation).strip("'\"") in (
        "str", "str | None", "Optional[str]")


def strategy_for(target: Target, annotation: ast.expr | None) -> str | None:
    """The hypothesis strategy (as source) for values of ``annotation``, or None: spelled out
    for the builtin types, else ``st.from_type`` of the annotation when every name in it can
    be imported from the module (its classes, its typing imports)."""
    if annotation is None:
        return None
    return _spelled(target, annotation) or _from_type(target, annotation)


def _from_type(target: Target, annotation: ast.expr) -> str | None:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
    if not names or names & _UNDRAWABLE or any(
            isinstance(n, ast.Constant) and isinstance(n.value, str)
            for n in ast.walk(annotation)):
        return None
    imported = names - _BUILTIN_TYPES
    if not imported <= target.module_names:
        return None
    target.imports.update(imported)
    return f"st.from_type({ast.unparse(annotation)})"


def _spelled(target: Target, annotation: ast.expr) -> str | None:
    if isinstance(annotation, ast.Constant):
        if annotation.value is None:
            return "st.none()"
        if isinstance(annotation.value, str):
            try:
                return strategy_for(target, ast.parse(annotation.value, mode="eval").body)
            except SyntaxError:
                return None
        return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        parts = [strategy_for(target, side)
                 for side in (annotation.left, annotation.right)]
        return None if None in parts else f"st.one_of({', '.join(parts)})"  # type: ignore[arg-type]
    if isinstance(annotation, ast.Name | ast.Attribute):
        name = annotation.id if isinstance(annotation, ast.Name) else annotation.attr
        if name == "str" and _constants(target):
            pieces = ", ".join(repr(c) for c in _constants(target))
            return (f"st.one_of(st.text(max_size=20), st.lists(st.sampled_from([{pieces}]), "
                    "max_size=6).map(''.join))")
        if name in _SIMPLE:
            return _SIMPLE[name]
        if isinstance(annotation, ast.Name) and name in _module_enums(target):
            target.imports.add(name)
            return f"st.from_type({name})"
        return None
    if isinstance(annotation, ast.Subscript):
        return _subscript(target, annotation)
    return None


def _subscript(target: Target, annotation: ast.Subscript) -> str | None:
    outer = annotation.value
    name = outer.id if isinstance(outer, ast.Name) else getattr(outer, "attr", "")
    args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [
        annotation.slice]
    inner = [strategy_for(target, a) for a in args]
    if name == "Optional" and inner[0]:
        return f"st.one_of(st.none(), {inner[0]})"
    if name == "Union" and None not in inner:
        return f"st.one_of({', '.join(inner)})"  # type: ignore[arg-type]
    if name in _LISTS and len(inner) == 1 and inner[0]:
        return f"st.lists({inner[0]}, max_size=10)"
    if name in _SETS and len(inner) == 1 and inner[0]:
        return f"{_SETS[name]}({inner[0]}, max_size=10)"
    if name in _DICTS and len(inner) == 2 and None not in inner:
        return f"st.dictionaries({inner[0]}, {inner[1]}, max_size=10)"
    if name in ("tuple", "Tuple"):
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            return f"st.lists({inner[0]}, max_size=10).map(tuple)" if inner[0] else None
        return None if None in inner else f"st.tuples({', '.join(inner)})"  # type: ignore[arg-type]
    return None


def _constants(target: Target) -> list[str]:
    """The short strings the body uses (``"//"``, ``"/"``), and a plain letter: text made of
    them reaches the cases the code singles out, which random text rarely does."""
    body = target.function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    found = sorted({n.value for s in body for n in ast.walk(s) if isinstance(n, ast.Constant)
                    and isinstance(n.value, str) and 0 < len(n.value) <= 8})[:12]
    return [*found, "a"] if found else []


def _module_enums(target: Target) -> set[str]:
    return {n.name for n in target.tree.body if isinstance(n, ast.ClassDef) and any(
        (b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")) in (
            "Enum", "IntEnum", "StrEnum", "Flag", "IntFlag") for b in n.bases)}


def _own_exceptions(target: Target) -> list[str]:
    """The exceptions the function's own body raises by name (builtins and the module's own),
    AssertionError when it asserts on its arguments, those its docstring names, ValueError
    and OverflowError (Python's ways of refusing a value of the right type), and
    NotImplementedError (an abstract method)."""
    names: list[str] = ["ValueError", "OverflowError", "NotImplementedError"]
    for node in ast.walk(target.function):
        exc = node.exc if isinstance(node, ast.Raise) else None
        if isinstance(exc, ast.Call):
            exc = exc.func
        if isinstance(exc, ast.Name):
            if is_builtin_exception(exc.id) or exc.id in target.module_names:
                if not is_builtin_exception(exc.id):
                    target.imports.add(exc.id)
                if exc.id not in names:
                    names.append(exc.id)
        if isinstance(node, ast.Assert) and "AssertionError" not in names:
            names.append("AssertionError")
    documented = ast.get_docstring(target.function) or ""
    for name in _EXCEPTION_WORD.findall(documented):
        if is_builtin_exception(name) and name not in names:
            names.append(name)  # "Raises ValueError if ...": a documented refusal
    return names


def _round_trip(target: Target, others: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
                single: list[Param]) -> tuple[str, str] | None:
    """The (forward, backward) pair the function is part of, both taking one argument."""
    me = target.function.name
    if len(single) != 1:
        return None
    for forward, backward in _INVERSES:
        for mine, theirs, i_am_forward in ((forward, backward, True),
                                           (backward, forward, False)):
            if mine not in me:
                continue
            partner = me.replace(mine, theirs, 1)
            other = others.get(partner)
            if other is None or partner == me:
                continue
            required = len(other.args.args) - len(other.args.defaults)
            if required != 1 or other.args.kwonlyargs and any(
                    d is None for d in other.args.kw_defaults):
                continue
            return (me, partner) if i_am_forward else (partner, me)
    return None


def _same_type(target: Target, param: Param) -> bool:
    """Whether the return annotation is the parameter's (or absent): f(f(x)) is then a call."""
    returns = target.function.returns or target.documented_return
    return returns is None or (param.annotation is not None
                               and ast.dump(returns) == ast.dump(param.annotation))

