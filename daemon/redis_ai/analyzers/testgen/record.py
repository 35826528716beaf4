"""What the function returns today for the calls the project makes (``calls.observed``): each
call is run twice, in a subprocess of the user's Python, in the generated modules' sandbox (no
network, a tmp folder as working directory), with a timeout. A result is kept when both runs
gave the same repr: as a value when the repr reads back as it (a literal), else as the repr
itself when it reads as a constructor call (``URL('https://a/')``, not ``<...>``, which
describes an object and changes with the process). Calls that raise or differ between
runs are left out, but for a call the project makes inside ``pytest.raises``: the
exception it raises (the same one twice) is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from .writer import NO_NETWORK

TIMEOUT_S = 15.0
"""The longest the recording of one function's calls runs; past it nothing is recorded."""
_MAX_REPR = 300

_SCRIPT = '''
import ast, json, os, socket, sys
sys.path.insert(0, {root!r})
def _refuse(*args, **kwargs):
    raise OSError({no_network!r})
for _owner, _name in [(socket.socket, "connect"), (socket.socket, "connect_ex"),
                      (socket, "getaddrinfo"), (socket, "create_connection")]:
    setattr(_owner, _name, _refuse)
os.chdir({cwd!r})
{prelude}
_results = []
for _source, _expected in {expressions!r}:
    try:
        _first = eval(_source)
        _second = eval(_source)
    except Exception as _error:
        _kind = type(_error)
        try:
            eval(_source)
            _results.append(None)
        except Exception as _again:
            _results.append(["raises", _kind.__module__ + "." + _kind.__qualname__]
                            if _expected and type(_again) is _kind else None)
        continue
    except BaseException:
        _results.append(None)
        continue
    try:
        _text = repr(_first)
        _same = len(_text) <= {limit} and _text == repr(_second)
    except BaseException:
        _same = False
    _kind = None
    if _same:
        try:
            _back = ast.literal_eval(_text)
            if _back == _first and type(_back) is type(_first) and _first == _second:
                _kind = "value"
        except BaseException:
            pass
        if _kind is None and not _text.startswith("<") and " at 0x" not in _text:
            _kind = "repr"  # "<...>" describes an object (a stream, a handle): not a value
    _results.append([_kind, _text] if _kind else None)
sys.stdout.flush()
os.write({fd}, json.dumps(_results).encode())
'''


def record(expressions: list[tuple[str, bool]], prelude: str, python: str, root: Path,
           timeout: float = TIMEOUT_S) -> list[tuple[str, str] | None]:
    """For each (expression, whether the project expects it to raise): ("value", its repr)
    when the repr is a literal of the value, ("repr", its repr) when it is only the same in
    both runs and holds no address, ("raises", the exception's module.qualname) when it is
    expected to raise and raises that twice, or None; evaluated after ``prelude`` (the
    imports) with ``root`` on sys.path."""
    if not expressions:
        return []
    with tempfile.TemporaryDirectory(prefix="redis-ai-record-") as folder:
        read, write = os.pipe()
        script = _SCRIPT.format(root=str(root), no_network=NO_NETWORK, cwd=folder,
                                prelude=prelude, expressions=expressions, limit=_MAX_REPR,
                                fd=write)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.Popen([python, "-c", script], cwd=folder, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, pass_fds=(write,),
                                    start_new_session=True)
        except OSError:
            os.close(read)
            os.close(write)
            return [None] * len(expressions)
        os.close(write)
        # The results come on a pipe of their own: what the code prints is not read as them.
        with os.fdopen(read, "rb") as pipe:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return [None] * len(expressions)
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # a child it left would hold the pipe
            except ProcessLookupError:
                pass
            data = pipe.read()
    try:
        values = json.loads(data or b"null")
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(expressions):
        return [None] * len(expressions)
    return [(v[0], v[1]) if isinstance(v, list) and len(v) == 2 and v[0] in ("value", "repr", "raises")
            and isinstance(v[1], str) else None for v in values]
