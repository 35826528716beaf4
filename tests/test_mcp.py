"""``redis-ai mcp`` through the SDK's own client, over stdio and streamable HTTP, against a real
daemon on a real Redis; the change notification after an edit typed in a real Neovim.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pynvim
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from redis_ai import keys, status
from redis_ai.lisp import service
from redis_ai.mcp.server import Followers, digest, resource_uri
from redis_ai.search.corpus import index_paths
from redis_ai.search.index import CodeIndex
from redis_ai.workers.liveness import alive
from tests.conftest import ROOT
from tests.support.clients import RPCClient, event
from tests.test_nvim import PLUGIN, SETUP, wait_for

NVIM = ROOT / ".venv" / "bin" / "nvim"
TOOLS = {"diagnostics", "search_code", "generated_tests", "recent_edits", "lisp_programs", "lisp_run"}
LONG_LINES = """
(define (analyze)
  (list (diagnostic 1 0 "first line seen" 'warning "first")))
"""

Session = Callable[[Client], Awaitable[None]]


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def stdio(daemon: Any, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "redis_ai", "mcp", *extra],
                                 env=daemon.env, cwd=str(ROOT))


def run(server: Any, session: Session, **options: Any) -> None:
    """Run ``session`` against ``server`` with the SDK's client, within 60 s."""
    async def main() -> None:
        with anyio.fail_after(60):
            async with Client(server, **options) as client:
                await session(client)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # subscribe_resource is deprecated for 2026-07-28 servers
        anyio.run(main)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "unused.py").write_text("import os\n\n\ndef twice(x: int) -> int:\n"
                                      '    """Twice x.\n\n    >>> twice(2)\n    4\n    """\n'
                                      "    return x * 2\n")
    (folder / "net.py").write_text("def retry_connection(host, attempts):\n"
                                   '    """Retry connecting to the host a few times."""\n'
                                   "    for _ in range(attempts):\n        pass\n")
    return folder


@pytest.fixture
def http_server(daemon: Any) -> Iterator[dict[str, Any]]:
    """``redis-ai mcp --http --port 0 --allow-define``; yields its mcp.json."""
    found = daemon.runtime_dir / "mcp.json"
    log = open(daemon.runtime_dir / "mcp.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "redis_ai", "mcp", "--http", "--port", "0",
                             "--allow-define"], env=daemon.env, cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                info = json.loads(found.read_text())
                if info["pid"] == proc.pid:
                    break
            except (OSError, ValueError):
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                (daemon.runtime_dir / "mcp.log").read_text())
            time.sleep(0.05)
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0 and not found.exists()  # a clean stop takes mcp.json away


def http_transport(info: dict[str, Any], http: httpx2.AsyncClient) -> Any:
    return streamable_http_client(info["url"], http_client=http)


def test_tools_over_stdio(daemon: Any, project: Path) -> None:
    unused = str(project / "unused.py")
    index_paths(CodeIndex(daemon.redis), [project])
    service.define_request(daemon.redis, {"name": "first-line", "source": LONG_LINES,
                                          "description": "marks line 1"})

    async def session(client: Client) -> None:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == TOOLS  # no lisp_define without --allow-define
        # No editor has sent the file: computed now, from the file on disk, 1-based.
        found = text_of(await client.call_tool("diagnostics", {"file": unused}))
        assert "computed now" in found and f"{unused}:1:8: warning F401:" in found, found
        hits = text_of(await client.call_tool("search_code", {"query": "retry the connection",
                                                              "k": 3}))
        assert f"{project / 'net.py'}:1-4: retry_connection" in hits, hits
        tests = text_of(await client.call_tool("generated_tests", {"file": unused,
                                                                   "function": "twice"}))
        assert "def test_" in tests and "twice" in tests, tests
        listed = text_of(await client.call_tool("lisp_programs", {}))
        assert "first-line v1 diagnostics: marks line 1" in listed, listed
        source = text_of(await client.call_tool("lisp_programs", {"name": "first-line"}))
        assert "(define (analyze)" in source
        ran = text_of(await client.call_tool("lisp_run", {"name": "first-line", "file": unused}))
        assert f"{unused}:1:1: warning first: first line seen" in ran, ran

    run(stdio(daemon), session)


def test_latest_results_and_recent_edits_of_an_editor(make_daemon: Any, project: Path) -> None:
    # In a namespace of its own: the MCP server takes the daemon's, as other commands do.
    daemon = make_daemon(extra_args=["--namespace", "team-mcp"])
    path = str(project / "unused.py")
    editor = RPCClient(daemon.discovery["rpc_socket"])
    editor.hello()
    try:
        for tick, text in ((5, "import os\nprint(os.sep)\n"), (6, "import os\nprint(os.sep, naive_name)\n")):
            editor.notify("event", event(file=path, buffer="7", text=text, tick=tick, line=2, col=6))
            editor.wait(lambda p, t=tick: p["type"] == "result" and p["analyzer"] == "code_analysis"
                        and p["tick"] == t, timeout=10)
    finally:
        editor.close()

    async def session(client: Client) -> None:
        found = text_of(await client.call_tool("diagnostics", {"file": path}))
        assert "as the editors last received them" in found and "tick 6" in found, found
        assert f"{path}:2:15: error F821: Undefined name `naive_name`" in found, found
        assert "F401" not in found  # the file on disk has it; the editor's buffer has not
        edits = text_of(await client.call_tool("recent_edits", {"file": path}))
        assert edits.index(f"edit at {path}:2:7 (test, tick 6)") < edits.index("tick 5)"), edits
        assert "-print(os.sep)\n+print(os.sep, naive_name)" in edits, edits
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        assert resource_uri(path) in listed, listed
        assert daemon.redis.exists(f"team-mcp:{{latest}}:file:{path}")

    run(stdio(daemon), session)


def test_bad_arguments_get_clear_tool_errors(daemon: Any, project: Path) -> None:
    async def session(client: Client) -> None:
        cases = {
            ("diagnostics", "{}"): "missing argument(s): file",
            ("diagnostics", '{"file": "rel.py"}'): "file must be an absolute path",
            ("diagnostics", json.dumps({"file": str(project / "gone.py")})): "cannot read",
            ("diagnostics", '{"file": "/x.py", "line": 3}'): "unknown argument(s): line",
            ("search_code", '{"query": "x", "k": 0}'): "k must be between 1 and",
            ("generated_tests", json.dumps({"file": str(project / "unused.py"),
                                            "function": "nope"})): "no function nope",
            ("lisp_run", '{"name": "missing", "text": "x"}'): "no program named missing",
            ("lisp_define", '{"name": "a", "source": "(x"}'): "start `redis-ai mcp --allow-define`",
            ("recent_edits", '{"file": "/x.py", "limit": 0}'): "limit must be an integer",
        }
        for (tool, args), message in cases.items():
            result = await client.call_tool(tool, json.loads(args))
            assert result.is_error and message in text_of(result), (tool, args, text_of(result))

    run(stdio(daemon), session)


def test_http_refuses_without_token_and_from_other_origins(daemon: Any,
                                                           http_server: dict[str, Any]) -> None:
    env = daemon.env
    url, token = http_server["url"], http_server["token"]
    assert url.startswith("http://127.0.0.1:")
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    port = url.split(":")[2].split("/")[0]
    with httpx2.Client() as http:
        def status(**extra: str) -> int:
            return http.post(url, json=body, headers={**headers, **extra}).status_code

        assert status() == 401
        assert status(authorization="Bearer " + "0" * len(token)) == 401
        good = {"authorization": f"Bearer {token}"}
        assert status(**good, origin="http://evil.example") == 403
        assert status(**good, origin=f"http://localhost:{port}") not in (401, 403, 421)
        assert status(**good, host="evil.example") == 421
        assert status(**good) not in (401, 403, 421)
    shown = subprocess.run([sys.executable, "-m", "redis_ai", "mcp", "--show-token"], env=env,
                           cwd=ROOT, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == token  # what agents are configured with, kept across restarts


def test_tools_and_define_over_http(daemon: Any, http_server: dict[str, Any], project: Path) -> None:
    mode = (daemon.runtime_dir / "mcp.json").stat().st_mode & 0o777
    assert mode == 0o600
    unused = str(project / "unused.py")

    async def session_with(http: httpx2.AsyncClient) -> None:
        async def session(client: Client) -> None:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == TOOLS | {"lisp_define"}
            bad = await client.call_tool("lisp_define", {"name": "broken", "source": "(defun"})
            assert bad.is_error and "broken not defined: line 1" in text_of(bad), text_of(bad)
            done = await client.call_tool("lisp_define", {"name": "first-line", "source": LONG_LINES})
            assert "first-line defined: version 1" in text_of(done), text_of(done)
            ran = await client.call_tool("lisp_run", {"name": "first-line", "file": unused})
            assert f"{unused}:1:1: warning first: first line seen" in text_of(ran)
            found = text_of(await client.call_tool("diagnostics", {"file": unused}))
            assert f"{unused}:1:8: warning F401:" in found, found

        async with Client(http_transport(http_server, http)) as client:
            await session(client)

    async def main() -> None:
        with anyio.fail_after(60):
            async with create_mcp_http_client(
                    headers={"Authorization": f"Bearer {http_server['token']}"}) as http:
                await session_with(http)

    anyio.run(main)
    assert daemon.redis.sismember(keys.LISP_PROGRAMS, "first-line")
    [server] = alive(daemon.redis, "mcp").values()
    assert server["transport"] == http_server["url"] and server["define"] == "1"
    # `redis-ai status` lists it beside the daemons and workers.
    shown = status.collect(daemon.redis)
    assert [s["transport"] for s in shown["mcp_servers"].values()] == [http_server["url"]]
    assert "mcp      1 alive" in status.render(shown) and http_server["url"] in status.render(shown)


def _edit_in_nvim(daemon: Any, path: Path) -> pynvim.Nvim:
    if not NVIM.exists():
        pytest.skip(f"{NVIM} is not installed")
    nvim = pynvim.attach("child", argv=[str(NVIM), "--embed", "--headless", "-u", "NONE",
                                        "-i", "NONE", "-n"])
    nvim.exec_lua(SETUP, str(PLUGIN), str(daemon.runtime_dir), {"debounce_ms": 50})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {path}")
    return nvim


@pytest.mark.parametrize("era", ["2026-07-28", "legacy"])
def test_a_neovim_edit_notifies_subscribed_agents(daemon: Any, project: Path, era: str) -> None:
    path = project / "unused.py"
    uri = resource_uri(str(path))
    updated: list[str] = []
    nvim = _edit_in_nvim(daemon, path)

    def type_an_error() -> None:
        nvim.input("Goprint(undefined_thing)<Esc>")

    async def wait_for_diagnostic(client: Client) -> str:
        with anyio.fail_after(20):
            while True:
                read = await client.read_resource(uri)
                text = read.contents[0].text  # type: ignore[union-attr]
                if "undefined_thing" in text:
                    return str(text)
                await anyio.sleep(0.05)

    async def modern(client: Client) -> None:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await anyio.to_thread.run_sync(type_an_error)
            with anyio.fail_after(20):
                async for change in subscription:
                    updated.append(change.uri)  # type: ignore[union-attr]
                    break
        assert "F821" in await wait_for_diagnostic(client)

    async def handler(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))

    async def legacy(client: Client) -> None:
        assert client.protocol_version < "2026"
        await client.subscribe_resource(uri)
        await anyio.to_thread.run_sync(type_an_error)
        with anyio.fail_after(20):
            while not updated:
                await anyio.sleep(0.02)
        assert "F821" in await wait_for_diagnostic(client)

    try:
        if era == "legacy":
            run(stdio(daemon), legacy, mode="legacy", message_handler=handler)
        else:
            run(stdio(daemon), modern)
    finally:
        try:
            nvim.command("qa!")
        except Exception:  # noqa: BLE001 - the child exits while answering
            pass
        nvim.close()
    assert updated and updated[0] == uri


def test_a_result_that_repeats_the_items_is_no_change() -> None:
    item = {"line": 1, "col": 7, "code": "F401", "message": "`os` imported but unused"}
    first = {"code_analysis": {"tick": 3, "id": "1-0#0/code_analysis", "items": [item]}}
    again = {"code_analysis": {"tick": 4, "id": "2-0#0/code_analysis", "items": [item]}}
    other = {"code_analysis": {"tick": 5, "id": "3-0#0/code_analysis", "items": []}}
    followers = Followers()
    uri = resource_uri("/p/a.py")
    assert [followers.changed(uri, digest(r)) for r in (first, again, other, other)] == [
        True, False, True, False]
