"""``ruff check`` processes started before their text: each waits on stdin, its settings read.

A ``ruff check --stdin-filename FILE -`` process spends about half of its time on a 3,000-line
file before it reads a byte of stdin: the exec, then finding and reading the configuration
(measured in docs/benchmarks.md). So each time a process is taken for a command line, a thread
of this module starts another for it in the background once no check is under way (so that it
takes no CPU from one), up to ``_DEPTH`` waiting (one for the
diagnostics, one for the fix check when a text has fixes), and the next check of that file (the
next keystroke) only writes its text and reads the result. Every check still has a fresh ``ruff check`` process of its own; a check
that finds none waiting starts one as before.

A waiting process has read its configuration when it started. It is used only while the
configuration's stamp (path and mtime of the file ``ruff_engine.config_for`` finds) is the one
it started with; otherwise it is ended. Processes wait for a few command lines (``_KEEP``); the
least recently used line's are ended first.
"""

from __future__ import annotations

import atexit
import os
import queue
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass

_KEEP = 3
_DEPTH = 2

Key = tuple[tuple[str, ...], str]
"""A command line and its working folder."""


@dataclass
class _Waiting:
    """A started process, its stdin (the write end of a pipe, written once then closed; -1
    once closed) and the configuration stamp it was started with."""

    proc: subprocess.Popen[bytes]
    stdin: int
    stamp: str


_pool: OrderedDict[Key, list[_Waiting]] = OrderedDict()
_lock = threading.Lock()
_idle = threading.Condition(_lock)
_running = 0
"""Checks under way: processes are started only when none is (a start costs 2-5 ms of CPU,
which would come out of the check's own time on a busy machine)."""
_wanted: queue.SimpleQueue[tuple[Key, str, int]] = queue.SimpleQueue()
_starter: threading.Thread | None = None
_generation = 0
"""Counts ``close`` calls: processes started before one are not kept after it."""


def run(argv: list[str], cwd: str, stamp: str, data: bytes,
        timeout: float) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in ``cwd`` on ``data`` (stdin); its exit status, stdout and stderr.

    ``stamp`` says which configuration the process must have read (see the module docstring).
    """
    global _running
    key = (tuple(argv), cwd)
    with _lock:
        _running += 1
    try:
        waiting = _take(key, stamp)
        if waiting is not None and _write(waiting, data):
            status, out, err = _finish(waiting, timeout)
            if status >= 0:
                return status, out, err
            # < 0: killed (from outside) while it waited; a fresh one below
        elif waiting is not None:
            _end(waiting)  # it had exited: not reading its stdin
        fresh = _start(key, stamp)
        _write(fresh, data)
        return _finish(fresh, timeout)
    finally:
        with _lock:
            _running -= 1
            _idle.notify_all()
        _want(key, stamp)


def _finish(started: _Waiting, timeout: float) -> tuple[int, bytes, bytes]:
    try:
        out, err = started.proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(started)
        raise
    return started.proc.returncode, out, err


def close() -> None:
    """End every waiting process (at exit, when the caches are emptied)."""
    global _generation
    with _lock:
        _generation += 1
        waiting = [one for ones in _pool.values() for one in ones]
        _pool.clear()
    for one in waiting:
        _end(one)


def waiting() -> int:
    """How many processes wait for a text (tests and benchmarks look)."""
    with _lock:
        return sum(len(ones) for ones in _pool.values())


def _take(key: Key, stamp: str) -> _Waiting | None:
    stale = []
    found = None
    with _lock:
        ones = _pool.get(key, [])
        while ones and found is None:
            one = ones.pop(0)
            if one.stamp == stamp and one.proc.poll() is None:
                found = one
            else:
                stale.append(one)
    for one in stale:
        _end(one)
    return found


def _want(key: Key, stamp: str) -> None:
    """Ask the starter thread to fill ``key``'s waiting processes."""
    global _starter
    with _lock:
        if _starter is None or not _starter.is_alive():
            _starter = threading.Thread(target=_fill, name="ruff-starter", daemon=True)
            _starter.start()
        _wanted.put((key, stamp, _generation))


def _fill() -> None:
    while True:
        key, stamp, generation = _wanted.get()
        with _lock:
            _idle.wait_for(lambda: _running == 0)
            if generation != _generation:
                continue  # asked before a close: nothing is to wait any more
            ones = _pool.get(key, [])
            stale = [one for one in ones if one.stamp != stamp]
            ones[:] = [one for one in ones if one.stamp == stamp]
            missing = min(1, _DEPTH - len(ones))  # one for the one taken: no process wasted
        for one in stale:
            _end(one)
        started = []
        try:
            started = [_start(key, stamp) for _ in range(missing)]
        except OSError:
            pass  # the folder went away: the next check starts its own and says why
        _keep(key, stamp, started, generation)


def _keep(key: Key, stamp: str, started: list[_Waiting], generation: int) -> None:
    with _lock:
        if generation != _generation:
            evicted = started
            started = []
        else:
            evicted = []
        ones = [one for one in _pool.pop(key, []) if one.stamp == stamp] + started
        _pool[key] = ones[:_DEPTH]
        evicted += ones[_DEPTH:]
        while len(_pool) > _KEEP:
            evicted += _pool.popitem(last=False)[1]
    for one in evicted:
        _end(one)


def _start(key: Key, stamp: str) -> _Waiting:
    read, write = os.pipe()
    try:
        proc = subprocess.Popen(list(key[0]), stdin=read, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=key[1])
    except BaseException:
        os.close(write)
        raise
    finally:
        os.close(read)
    return _Waiting(proc, write, stamp)


def _write(waiting: _Waiting, data: bytes) -> bool:
    """Give the process its text and end its stdin; False when it is no longer reading."""
    fd, waiting.stdin = waiting.stdin, -1  # closed below whatever happens: never twice
    try:
        with open(fd, "wb") as stdin:
            stdin.write(data)
    except BrokenPipeError:
        return False
    return True


def _end(waiting: _Waiting) -> None:
    if waiting.stdin >= 0:
        os.close(waiting.stdin)
        waiting.stdin = -1
    waiting.proc.kill()
    waiting.proc.communicate()


def _forget_in_child() -> None:
    """A forked child must not hold the parent's stdin pipes (ruff would never see their end)
    nor use its processes or its starter thread."""
    global _starter, _lock, _wanted, _idle, _running
    for ones in _pool.values():
        for one in ones:
            if one.stdin >= 0:
                os.close(one.stdin)
    _pool.clear()
    _lock, _wanted, _starter = threading.Lock(), queue.SimpleQueue(), None
    _idle, _running = threading.Condition(_lock), 0


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(close)
