"""Where things live on disk, and the discovery file through which every client finds the daemon."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import keys
from .errors import DaemonNotFound

ENV_RUNTIME = "REDIS_AI_RUNTIME_DIR"
ENV_DATA = "REDIS_AI_DATA_DIR"
ENV_REDIS_URL = "REDIS_AI_REDIS_URL"
ENV_NAMESPACE = "REDIS_AI_NAMESPACE"


def runtime_dir() -> Path:
    """The per-user 0700 folder for sockets and the discovery file, created if missing."""
    if os.environ.get(ENV_RUNTIME):
        path = Path(os.environ[ENV_RUNTIME])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "redis-ai"
    else:
        path = Path(tempfile.gettempdir()) / f"redis-ai-{os.getuid()}"
    _private_dir(path)
    return path


def data_dir() -> Path:
    """Where the embedded Redis keeps its append-only file, so the registry survives restarts."""
    if os.environ.get(ENV_DATA):
        path = Path(os.environ[ENV_DATA])
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "redis-ai"
    _private_dir(path)
    return path


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; refusing to use it")
    if st.st_mode & 0o077:
        path.chmod(0o700)


@dataclass(frozen=True)
class Discovery:
    """The content of RUNTIME/daemon.json (docs/protocol.md)."""

    pid: int
    version: str
    protocol: int
    rpc_socket: str
    epc_port: int
    token: str
    redis_url: str
    embedded: bool
    started: float
    namespace: str = keys.DEFAULT_NAMESPACE

    @property
    def path(self) -> Path:
        return runtime_dir() / "daemon.json"

    def write(self) -> None:
        """Write atomically with mode 0600: the token in it is the key to the EPC endpoint."""
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.__dict__, f)
        os.replace(tmp, self.path)

    @classmethod
    def read(cls) -> Discovery:
        """The running daemon's discovery data; DaemonNotFound if there is none alive."""
        path = runtime_dir() / "daemon.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            found = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise DaemonNotFound(f"no running daemon ({path}: {exc})") from None
        if not _alive(found.pid):
            raise DaemonNotFound(f"the daemon that wrote {path} (pid {found.pid}) is gone")
        return found


def namespace(given: str | None, *, follow_daemon: bool) -> str:
    """The namespace to use: ``given`` (--namespace), else $REDIS_AI_NAMESPACE, else (when
    ``follow_daemon``, for commands that talk to a running daemon's Redis) that daemon's, else
    the default, ``redis-ai``."""
    if given is not None:
        return given
    if os.environ.get(ENV_NAMESPACE):
        return os.environ[ENV_NAMESPACE]
    if follow_daemon:
        try:
            return Discovery.read().namespace
        except DaemonNotFound:
            pass
    return keys.DEFAULT_NAMESPACE


def remove_discovery(pid: int) -> None:
    """Remove the discovery file if it is still ours (a newer daemon may have replaced it)."""
    path = runtime_dir() / "daemon.json"
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
