"""The syntax at the cursor, as far as offline completion needs it: is the cursor inside a
string or a comment, and which brackets does the line leave open.

Inside prose the learned code says little (measured: the n-gram offered on a third of those
lines and was right on about 1 %), so completion there needs much stronger evidence.
"""

from __future__ import annotations

import re

_COMMENTS = {"elisp": ";", "lua": "--", "c": "//", "javascript": "//", "typescript": "//",
             "rust": "//", "go": "//", "java": "//"}
_TRIPLE = frozenset({"python"})
_SINGLE_QUOTE_STRINGS = frozenset({"python", "lua", "javascript", "typescript", "shell"})
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_SCANNERS: dict[str, re.Pattern[str]] = {}
_CODE_LINES = ("\ndef ", "\nclass ", "\nasync def ", "\n    def ", "\n    async def ")


def _scanner(language: str) -> re.Pattern[str]:
    """Comments and strings, each possibly unterminated where the text ends."""
    parts = [re.escape(_COMMENTS.get(language, "#")) + r"[^\n]*"]
    if language in _TRIPLE:
        parts += [r'"""(?:\\.|[^\\])*?(?:"""|\Z)', r"'''(?:\\.|[^\\])*?(?:'''|\Z)"]
    parts.append(r'"(?:\\.|[^"\\\n])*(?:"|(?=\n)|\Z)')
    if language in _SINGLE_QUOTE_STRINGS:
        parts.append(r"'(?:\\.|[^'\\\n])*(?:'|(?=\n)|\Z)")
    return re.compile("|".join(parts), re.S)


def in_prose(before: str, language: str) -> bool:
    """Whether the end of ``before`` (the text up to the cursor) is inside a comment or a
    string, docstrings included.

    >>> in_prose('x = 1  # the', 'python'), in_prose('s = "ab" + f(', 'python')
    (True, False)
    >>> in_prose("def f():\\n    '''Return the", 'python')
    True
    """
    scanner = _SCANNERS.get(language)
    if scanner is None:
        scanner = _SCANNERS[language] = _scanner(language)
    if language in _TRIPLE:
        # A def or class line is code: scanning from the last one is enough, and runs on
        # every keystroke.
        start = max(0, *(before.rfind(head) for head in _CODE_LINES))
    else:
        start = before.rfind("\n") + 1  # nothing spans lines: the line decides
    last = None
    for match in scanner.finditer(before, start):
        last = match
    if last is None or last.end() != len(before):
        return False
    body = last.group()
    comment = _COMMENTS.get(language, "#")
    if body.startswith(comment):
        return True
    return _CLOSED.fullmatch(body) is None


_CLOSED = re.compile(r'"""(?:\\.|[^\\])*?"""|\'\'\'(?:\\.|[^\\])*?\'\'\''
                     r'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
"""A string that ends with its closing quote."""


def balanced_cut(line: str, completion: str) -> str:
    """``completion`` cut before the first bracket it closes that ``line`` (the text typed on
    the cursor's line) does not leave open, and at its first line break."""
    stack = []
    for ch in line:
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE and stack and stack[-1] == _CLOSE[ch]:
            stack.pop()
    for i, ch in enumerate(completion):
        if ch == "\n":
            return completion[:i]
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if not stack or stack[-1] != _CLOSE[ch]:
                return completion[:i]
            stack.pop()
    return completion
