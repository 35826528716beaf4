"""Docstring examples as tests, read with doctest's own parser.

Examples that are plain enough become readable statements and ``assert``s: an expression whose
output is a literal that reads back as written (``assert f(2) == 4``), statements that print
nothing, and tracebacks (``pytest.raises``). Any other docstring (printed output, a repr that is no
literal, directives such as ``+ELLIPSIS``) is run by doctest itself inside the generated test, in
the module's namespace, so what it checks is exactly what ``python -m doctest`` checks: printed
output is compared as output, never as a return value.
"""

from __future__ import annotations

import ast
import builtins
import doctest

from .locate import Target, exception_name, snake
from .writer import Test

_PRINTING = frozenset({"print", "pprint", "pp"})
_ATOMS = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple,
          ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
          ast.JoinedStr)


def doctest_tests(target: Target) -> tuple[list[Test], str | None]:
    """The test of the function's docstring examples, or why there is none."""
    docstring = ast.get_docstring(target.function, clean=True)
    if not docstring or ">>>" not in docstring:
        return [], "its docstring has no examples"
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError as exc:
        return [], f"doctest cannot read its examples ({exc})"
    examples = [e for e in examples if not e.options.get(doctest.SKIP)]
    checked = [i for i, e in enumerate(examples) if e.want.strip() or e.exc_msg is not None]
    if not checked:
        return [], "its examples check nothing (an illustration)"
    examples = examples[:checked[-1] + 1]
    trees = []
    for example in examples:
        try:
            trees.append(ast.parse(example.source))
        except SyntaxError:
            return [], "an example is not valid Python"
        _names_used(target, trees[-1])
    if target.unresolved:
        return [], ("its examples use names the module does not define: "
                    + ", ".join(sorted(target.unresolved)))
    name = f"test_{snake(target.qualname)}_docstring_examples"
    lines = _translated(target, examples, trees)
    if lines is not None:
        return [Test(name, f"def {name}():\n" + "".join(f"    {x}\n" for x in lines),
                     "example")], None
    start = docstring.index(">>>")
    text = docstring[docstring.rfind("\n", 0, start) + 1:]
    return [Test(name, f"def {name}():\n    run_examples({_string(text)}, "
                       f"{target.qualname!r})\n", "doctest")], None


def _translated(target: Target, examples: list[doctest.Example],
                trees: list[ast.Module]) -> list[str] | None:
    """The examples as statements and asserts, or None if any of them needs doctest's own
    comparison (printed output, options, a repr that is not a literal)."""
    lines: list[str] = []
    for example, tree in zip(examples, trees, strict=True):
        code = example.source.rstrip("\n")
        if example.options:
            return None
        if example.exc_msg is not None:
            last = example.want.strip().splitlines()[-1] if example.want.strip() else ""
            if not last or not example.exc_msg.strip():
                return None
            exception = exception_name(target, last.split(":")[0])
            lines += [f"with pytest.raises({exception}):"] + [f"    {x}" for x in code.split("\n")]
            continue
        want = example.want.rstrip("\n")
        if not want.strip():
            if _prints(tree):
                return None  # output doctest would have compared with nothing
            lines.extend(code.split("\n"))
            continue
        expression = tree.body[0] if len(tree.body) == 1 else None
        if not isinstance(expression, ast.Expr) or _prints(tree) or "\n" in want:
            return None
        assertion = _expected(ast.get_source_segment(code, expression.value) or code,
                              expression.value, want)
        if assertion is None:
            return None
        lines.append(assertion)
    return lines


def _prints(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _PRINTING:
                return True
            if isinstance(func, ast.Attribute) and func.attr in _PRINTING | {"write"}:
                return True
    return False


def _expected(code: str, node: ast.expr, want: str) -> str | None:
    """``assert <code> == <want>`` when ``want`` is a literal that reads back as written."""
    try:
        value = ast.literal_eval(want)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if repr(value) != want.strip():
        return None
    if "\n" in code or not isinstance(node, _ATOMS):
        code = f"({code})"  # `a == b` must not chain with the assert's own `==`
    if value is None or isinstance(value, bool):
        return f"assert {code} is {want.strip()}"
    return f"assert {code} == {want.strip()}"


def _names_used(target: Target, tree: ast.AST) -> None:
    """Note the module-level names the example uses and does not bind (in this example or an
    earlier one: an example's own imports, assignments, lambdas' and comprehensions' variables
    count), and those found nowhere."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            target.example_names.add(node.id)
        elif isinstance(node, ast.arg):
            target.example_names.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            target.example_names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            target.example_names.add(node.name)
    short = target.module.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id in target.example_names:
            continue
        if node.id in target.module_names:
            target.imports.add(node.id)
        elif node.id == short:
            target.imports_module = True  # examples written as a user of the module
        elif not hasattr(builtins, node.id):
            target.unresolved.add(node.id)


def _string(text: str) -> str:
    """``text`` as a readable literal: a raw triple-quoted string where one can hold it."""
    if ("'''" not in text and not text.endswith(("\\", "'"))
            and all(c in "\n\t" or c.isprintable() for c in text)):
        return f"r'''{text}'''"
    return repr(text)
