"""Installing the Neovim plugin and finding the daemon, in real child Neovims (0.7.2 and 0.11)
against real daemons: nvim/install.sh makes a package under XDG_DATA_HOME whose help tags live
there, not in the checkout; the checkout's .venv/bin/redis-ai is found without PATH; and the
plugin connects only through folders that are the user's own and closed to others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pynvim
import pytest

from tests.test_nvim import ROOT, nvim_bin, start_nvim, wait_for

# Fixtures of test_nvim.py (both Neovims), taken by name.
__all__ = ["nvim_bin", "start_nvim"]

INSTALL = ROOT / "nvim" / "install.sh"
VENV_COMMAND = ROOT / ".venv" / "bin" / "redis-ai"


def _checkout_files() -> set[str]:
    """Every file under nvim/ that git does not ignore, tracked or not."""
    listed = subprocess.run(["git", "ls-files", "--others", "--cached", "--exclude-standard",
                             "nvim"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(listed.stdout.split())


def test_install_script_keeps_help_tags_out_of_the_checkout(nvim_bin: str, tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), NVIM=nvim_bin)
    env.pop("NVIM_APPNAME", None)
    before = _checkout_files()
    tags = ROOT / "nvim" / "doc" / "tags"
    had_tags = tags.exists()
    for _ in range(2):  # idempotent
        subprocess.run(["sh", str(INSTALL)], env=env, check=True, capture_output=True)
    package = tmp_path / "data" / "nvim" / "site" / "pack" / "redis-ai" / "start" / "redis_ai"
    assert (package / "doc" / "tags").is_file() and not (package / "doc").is_symlink()
    assert "redis_ai-install" in (package / "doc" / "tags").read_text()
    assert sorted(p.name for p in package.iterdir()) == ["doc", "lua", "plugin"]
    assert _checkout_files() == before and tags.exists() == had_tags
    # A Neovim with that XDG_DATA_HOME (user files only, no -u NONE) loads the package and
    # finds its help.
    nvim = pynvim.attach("child", argv=["env", *[f"{k}={env[k]}" for k in
                                                 ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME")],
                                        nvim_bin, "--embed", "--headless", "-i", "NONE", "-n"])
    try:
        assert nvim.eval("exists(':RedisAI')") == 2
        nvim.command("help redis_ai-install")
        assert nvim.current.buffer.name.endswith("redis_ai.txt")
        assert nvim.exec_lua("return require('redis_ai.daemon').command()")[0] == str(
            VENV_COMMAND)
    finally:
        try:
            nvim.command("qa!")
        except Exception:  # noqa: BLE001 - the child exits while answering
            pass
        nvim.close()


def test_the_checkout_venv_command_starts_the_daemon_without_path(
    start_nvim: Any, redis_server: Any, redis_client: Any
) -> None:
    if not VENV_COMMAND.exists():
        pytest.skip(f"{VENV_COMMAND} is not installed")
    runtime = Path(tempfile.mkdtemp(prefix="rai-"))
    nvim = start_nvim(runtime, None)
    # Nothing named redis-ai on PATH: only the checkout's .venv has it.
    nvim.exec_lua("vim.env.PATH = '/usr/bin:/bin'; vim.env.REDIS_AI_REDIS_URL = ...",
                  redis_server.url)
    assert nvim.eval("executable('redis-ai')") == 0
    discovery = runtime / "daemon.json"
    try:
        nvim.exec_lua("require('redis_ai').setup(...)", {
            "auto_start": True, "daemon_cmd": ["redis-ai", "daemon", "--analyzers",
                                               "code_analysis"]})
        wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'", timeout=30)
        pid = json.loads(discovery.read_text())["pid"]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert str(VENV_COMMAND).encode() in argv, argv
        nvim.command("checkhealth redis_ai")
        assert f"the daemon command: {VENV_COMMAND}" in "\n".join(nvim.current.buffer[:])
    finally:
        if discovery.exists():
            os.kill(json.loads(discovery.read_text())["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 10
            while discovery.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(runtime, ignore_errors=True)


def test_connects_only_through_private_folders(
    start_nvim: Any, daemon: Any, tmp_path: Path
) -> None:
    # The daemon's runtime folder opened to others: refused, and taken again once it is 0700
    # (the discovery file is read afresh before every attempt).
    daemon.runtime_dir.chmod(0o755)
    nvim = start_nvim(daemon.runtime_dir, {"backoff_max_ms": 200})
    reason = wait_for(nvim, "require('redis_ai.rpc').state.reason")
    assert reason == (f"refusing {daemon.runtime_dir}/daemon.json: {daemon.runtime_dir} is open"
                      " to other users (mode 755, want 700)")
    assert nvim.exec_lua("return require('redis_ai').statusline()") == "redis-ai:off"
    daemon.runtime_dir.chmod(0o700)
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    # A private discovery file naming a socket in a folder anyone may write to (where another
    # user could have put it): never connected to.
    public = Path(tempfile.mkdtemp(prefix="rai-pub-"))
    public.chmod(0o777)
    private = Path(tempfile.mkdtemp(prefix="rai-"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(public / "daemon.sock"))
        listener.listen()
        listener.settimeout(0.5)
        (private / "daemon.json").write_text(json.dumps(
            dict(daemon.discovery, rpc_socket=str(public / "daemon.sock"))))
        other = start_nvim(private, {})
        reason = wait_for(other, "require('redis_ai.rpc').state.reason")
        assert f"refusing the socket named by {private}/daemon.json: {public} is open" in reason
        with pytest.raises(TimeoutError):
            listener.accept()
        assert other.exec_lua("return require('redis_ai.daemon').discovery()") is None
    finally:
        listener.close()
        shutil.rmtree(public, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def test_a_folder_of_another_user_is_refused(start_nvim: Any, daemon: Any) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    os.chown(daemon.runtime_dir, 65534, -1)
    try:
        nvim = start_nvim(daemon.runtime_dir, {})
        reason = wait_for(nvim, "require('redis_ai.rpc').state.reason")
        assert f"{daemon.runtime_dir} belongs to another user" in reason
    finally:
        os.chown(daemon.runtime_dir, 0, -1)

