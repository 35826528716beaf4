"""What a function does to the world outside the process's memory, as far as its source shows:
files, processes and the terminal (``io_free``), the network (``network_functions``)."""

from __future__ import annotations

import ast

_IO_NAMES = frozenset({
    "open", "input", "exit", "quit", "os", "shutil", "subprocess", "sys", "socket", "urllib",
    "http", "requests", "pathlib", "Path", "tempfile", "signal", "time", "asyncio", "threading",
    "multiprocessing", "webbrowser", "smtplib", "ftplib",
})
_IO_METHODS = frozenset({
    "write", "write_text", "write_bytes", "unlink", "remove", "rmdir", "mkdir", "makedirs",
    "rename", "send", "sendall", "connect", "kill", "terminate", "touch", "rmtree", "system",
    "popen", "chmod", "chown", "truncate", "flush", "read", "readline", "readlines", "recv",
})
_NETWORK_NAMES = frozenset({
    "socket", "urllib", "urlopen", "http", "httpx", "requests", "aiohttp", "Session", "Client",
    "AsyncClient", "HTTPConnection", "HTTPSConnection", "PoolManager", "smtplib", "ftplib",
    "create_connection", "getaddrinfo",
})
_NETWORK_METHODS = frozenset({"urlopen", "getaddrinfo", "create_connection", "sendall", "recv",
                              "connect"})
_NETWORK_OBJECTS = frozenset({"session", "client", "conn", "connection", "adapter", "pool",
                              "sock", "transport"})
_NETWORK_CALLS = frozenset({"request", "send", "get", "post", "put", "patch", "delete", "head",
                            "options", "stream", "connect"})


_HARMLESS = frozenset({
    "os.environ", "os.getenv", "os.path", "os.fspath", "os.sep", "os.name", "os.linesep",
    "os.getpid", "os.cpu_count", "sys.platform", "sys.version_info", "sys.maxsize",
    "sys.getrecursionlimit", "sys.getdefaultencoding", "sys.getfilesystemencoding",
    "sys.flags", "sys.modules", "sys.intern", "sys.exc_info", "sys.getsizeof", "time.time",
    "time.monotonic", "time.perf_counter", "time.time_ns", "threading.Lock", "threading.RLock",
    "threading.local", "threading.Event", "threading.get_ident", "threading.current_thread",
    "asyncio.iscoroutinefunction", "asyncio.iscoroutine", "pathlib.PurePath",
    "pathlib.PurePosixPath", "Path.name", "Path.suffix", "Path.stem",
})
"""Calls of the I/O modules that only read the process's own state (the environment, the
clock, path arithmetic): the sandbox's tmp folder is all they could touch."""


_STREAM_METHODS = frozenset({"write", "flush", "read", "readline", "readlines"})
"""Methods that are I/O on a file or the terminal but as often on an in-memory buffer
(io.StringIO, a decoder, a console's capture): allowed with ``streams``."""


def io_free(function: ast.FunctionDef | ast.AsyncFunctionDef, streams: bool = False) -> bool:
    """Whether the body calls nothing that reads or changes the world outside the process's
    memory (files, processes, the network, the terminal) as far as can be seen; ``streams``:
    reads and writes of a stream it is given or holds count as memory (the calls the project
    itself makes, run in the sandbox with no terminal, are not refused for them)."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _IO_METHODS and not (
                streams and func.attr in _STREAM_METHODS):
            return False
        chain = _chain(func)
        if chain and chain[0] in _IO_NAMES and ".".join(chain[:2]) not in _HARMLESS:
            return False
    return True


def _chain(node: ast.expr) -> list[str]:
    """``os.path.join`` as ["os", "path", "join"]; [] for what is not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    return [node.id, *parts[::-1]]


def network_functions(tree: ast.Module) -> set[str]:
    """Qualified names of the module's functions and methods that obviously reach the network:
    they use a network library or object (a socket, a Session, a Client, ``urlopen``) or call
    a function of the module that does (``get`` calling ``request``)."""
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    stack: list[tuple[str, ast.AST]] = [("", node) for node in tree.body]
    while stack:
        prefix, node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[prefix + node.name] = node
        elif isinstance(node, ast.ClassDef):
            stack.extend((f"{prefix}{node.name}.", child) for child in node.body)
    found = {name for name, node in functions.items() if _reaches_network(node)}
    changed = True
    while changed:  # callers of network functions, to a fixed point
        changed = False
        for name, node in functions.items():
            if name not in found and _called_names(node) & {n.rsplit(".", 1)[-1] for n in found}:
                found.add(name)
                changed = True
    return found


def _reaches_network(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in _NETWORK_NAMES:
            return True
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr in _NETWORK_METHODS:
            return True
        owner = node.func.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if node.func.attr in _NETWORK_CALLS and owner_name.lower().lstrip("_") in (
                _NETWORK_OBJECTS):
            return True
    return False


def _called_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
                    func.value.id in ("self", "cls")):
                names.add(func.attr)
    return names
