"""The MCP server over streamable HTTP, on 127.0.0.1 only, behind a bearer token.

A web page the user visits can make the browser send requests to loopback ports, and a DNS
name can be rebound to 127.0.0.1, so every request must pass three checks before the SDK sees
it: the Host header names this port on 127.0.0.1 or localhost (else 421), an Origin header, when
there is one, is that same loopback origin (else 403), and ``Authorization: Bearer TOKEN``
carries the token of RUNTIME/mcp.json, a 0600 file (else 401). The token survives restarts
(it is kept in DATA/mcp-token) so that an agent's configuration keeps working.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mcp.server import Server
from mcp.server.transport_security import TransportSecuritySettings

from ..config import data_dir, runtime_dir

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PATH = "/mcp"


@dataclass(frozen=True)
class Discovery:
    """RUNTIME/mcp.json: where the HTTP server listens and the token it wants."""

    pid: int
    url: str
    token: str

    @staticmethod
    def path() -> Path:
        return runtime_dir() / "mcp.json"

    def write(self) -> None:
        """Write atomically with mode 0600: the token is the key to every tool."""
        tmp = self.path().with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)
        os.replace(tmp, self.path())


def token() -> str:
    """The HTTP server's bearer token: kept in DATA/mcp-token (0600) so that it survives
    restarts and reboots (the runtime folder may not) and agents' configurations stay valid."""
    path = data_dir() / "mcp-token"
    try:
        old = path.read_text().strip()
    except OSError:
        old = ""
    if len(old) >= 32:
        return old
    new = secrets.token_hex(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(new + "\n")
    return new


def remove_discovery(pid: int) -> None:
    """Remove mcp.json if it is still ours (a newer server may have replaced it)."""
    try:
        if json.loads(Discovery.path().read_text()).get("pid") == pid:
            Discovery.path().unlink()
    except (OSError, ValueError, AttributeError):
        pass


class Guard:
    """ASGI middleware refusing requests whose Host, Origin or bearer token is not ours."""

    def __init__(self, app: Any, port: int, token: str) -> None:
        self.app = app
        self.hosts = {f"{HOST}:{port}".encode(), f"localhost:{port}".encode()}
        self.origins = {b"http://" + h for h in self.hosts}
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(dict(scope["headers"]))
            if refusal is not None:
                status, text = refusal
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"text/plain"), *([(b"www-authenticate", b"Bearer")]
                                                        if status == 401 else [])]})
                await send({"type": "http.response.body", "body": text.encode()})
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        """(status, reason) for a request to refuse, None for one to serve."""
        if headers.get(b"host") not in self.hosts:
            return 421, "wrong Host: connect to 127.0.0.1 or localhost on this port\n"
        origin = headers.get(b"origin")
        if origin is not None and origin not in self.origins:
            return 403, "cross-origin requests are refused\n"
        if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
            return 401, "missing or wrong bearer token (see mcp.json in the runtime folder)\n"
        return None


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


async def serve(server: Server[Any], sock: socket.socket, secret: str) -> None:
    """Serve ``server`` on ``sock`` until cancelled."""
    import uvicorn

    port = sock.getsockname()[1]
    # The SDK checks Host and Origin as well; its lists are kept to this exact port.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{HOST}:{port}", f"localhost:{port}"],
        allowed_origins=[f"http://{HOST}:{port}", f"http://localhost:{port}"])
    app = Guard(server.streamable_http_app(streamable_http_path=PATH, transport_security=security,
                                           host=HOST), port, secret)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    await uvicorn.Server(config).serve(sockets=[sock])
