"""The commands a user runs: status, doctor, worker liveness, and the benchmarks' plumbing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

from tests.conftest import ROOT
from tests.test_runner import wait_for


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redis_ai", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def test_status_and_doctor_find_the_daemon_without_configuration(daemon):
    out = cli("status", "--json", env=daemon.env)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert {g["name"] for g in status["groups"]} == {"code_analysis", "fixed_completion"}
    assert status["dead_letters"]["length"] == 0
    text = cli("status", env=daemon.env).stdout
    assert "group  code_analysis" in text and "daemons  1 alive" in text

    report = json.loads(cli("doctor", "--json", env=daemon.env).stdout)
    assert report["daemon"]["running"] and report["daemon"]["pid"] == daemon.pid
    assert report["redis"]["reachable"]
    kind = os.environ.get("REDIS_AI_TEST_REDIS", "8")
    assert report["redis"]["search"] is (kind != "7")
    assert "vector search" in cli("doctor", env=daemon.env).stdout


def test_commands_say_clearly_when_no_daemon_runs():
    env = {**os.environ, "REDIS_AI_RUNTIME_DIR": tempfile.mkdtemp(prefix="rai-")}
    env.pop("REDIS_AI_REDIS_URL", None)
    out = cli("status", env=env)
    assert out.returncode == 1 and "no running daemon" in out.stderr and "redis-ai daemon" in out.stderr
    report = json.loads(cli("doctor", "--json", env=env).stdout)
    assert report["daemon"]["running"] is False and report["redis"]["reachable"] is False


def test_a_worker_is_listed_while_alive_and_drops_out_when_killed(redis_server, redis_client):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "redis_ai", "worker", "--redis-url", redis_server.url,
         "--group", "tests.support.analyzers:FixedCompletion"], env=env, cwd=ROOT)
    try:
        def listed() -> dict:
            out = cli("status", "--json", "--redis-url", redis_server.url, env=env)
            return json.loads(out.stdout)["workers"]

        workers = wait_for(listed, what="the worker's registration")
        [(ident, info)] = workers.items()
        assert info["group"] == "fixed_completion" and ident.split(":")[-2] == str(worker.pid)  # host:pid:random
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        wait_for(lambda: not listed(), timeout=15, what="the dead worker to drop out")
    finally:
        worker.kill()
        worker.wait()


def test_benchmarks_run_and_report_their_figures():
    out = cli("bench", "ingest", "--json", "--events", "3000", "--clients", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)
    assert figures["events"] == 3000 and figures["end_to_end_events_per_s"] > 0
    out = cli("bench", "roundtrip", "--json", "--events", "20")
    figures = json.loads(out.stdout)
    assert figures["lost"] == 0
    assert figures["echo"]["pipeline_ms"]["p50"] > 0
    assert figures["code_analysis"]["analyzer_ms"]["p50"] > 0


def test_benchmarks_print_tables_for_a_reader():
    out = cli("bench", "roundtrip", "--events", "20")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "{" not in out.stdout and "'" not in out.stdout, out.stdout  # no dict reprs
    tables = {block.splitlines()[0].split()[0]: block.splitlines()
              for block in out.stdout.strip().split("\n\n")}
    assert tables["events"][:3] == ["events     20", "transport  msgpack-rpc", "lost       0"]
    for analyzer in ("echo", "code_analysis"):
        header, *rows = tables[analyzer]
        assert header.split() == [analyzer, "p50", "p99"]
        assert [row.split()[0] for row in rows] == ["round_trip_ms", "analyzer_ms", "pipeline_ms"]
        assert all(float(cell) >= 0 for row in rows for cell in row.split()[1:])
    assert tables["machine"][2].split() == ["cores", str(os.cpu_count())]


def test_a_second_daemon_in_the_same_folder_refuses_to_start(daemon):
    out = cli("daemon", "--redis-url", daemon.redis_url, env=daemon.env, timeout=30)
    assert out.returncode == 1 and f"pid {daemon.pid}" in out.stderr
    assert daemon.discovery["pid"] == daemon.pid  # the running one is untouched


def test_a_worker_elsewhere_joins_over_tcp_with_a_password(tmp_path):
    """A worker "on another machine": TCP and AUTH to the daemon's Redis, no shared files."""
    import socket

    from tests.conftest import start_redis

    server = start_redis(os.environ.get("REDIS_AI_TEST_REDIS", "8"), tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = server.client()
    client.config_set("requirepass", "s3cret")
    client = redis_for(server.url, "s3cret")
    client.config_set("bind", "127.0.0.1")
    client.config_set("port", str(port))
    url = f"redis://:s3cret@127.0.0.1:{port}/0"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_AI_RUNTIME_DIR": str(tmp_path / "elsewhere")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "redis_ai", "worker", "--redis-url", url,
         "--group", "tests.support.analyzers:Counting"], env=env, cwd=ROOT)
    try:
        from redis_ai import keys
        from tests.support.analyzers import Counting
        from tests.test_runner import add_events, group_info

        wait_for(lambda: group_info(client, "counting"), what="the remote worker's group")
        ids = add_events(client, 20)
        wait_for(lambda: client.hlen(Counting.KEY) == 20, what="the remote worker's work")
        assert {k.decode() for k in client.hkeys(Counting.KEY)} == set(ids)
        assert client.scard(keys.WORKERS) == 1
    finally:
        worker.terminate()
        worker.wait(10)
        server.stop()


def redis_for(url: str, password: str):
    import redis

    return redis.Redis.from_url(url, password=password, protocol=2)


def test_sigterm_stops_the_daemon_cleanly_even_when_repeated(daemon):
    rpc_socket = daemon.discovery["rpc_socket"]
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.send_signal(signal.SIGTERM)  # an impatient user, or timeout(1) after systemd
    assert daemon.proc.wait(10) == 0
    assert not (daemon.runtime_dir / "daemon.json").exists()
    assert not os.path.exists(rpc_socket)


def test_output_into_a_closed_pipe_ends_quietly(redis_server, redis_client):
    """`redis-ai status --json | head -1` once the reader is gone: no traceback, SIGPIPE's status."""
    for args in (["status", "--json"], ["search", "where is the stream trimmed"]):
        read, write = os.pipe()
        os.close(read)  # the reader has gone before a byte is written, as `head` does after a line
        try:
            out = subprocess.run([sys.executable, "-m", "redis_ai", *args, "--redis-url", redis_server.url],
                                 stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60)
        finally:
            os.close(write)
        assert out.stderr == "", out.stderr
        assert out.returncode == 128 + signal.SIGPIPE, (args, out.returncode)


def _project(folder, files: dict[str, str]):
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


FIRST = {
    "alpha.py": "def open_door(key):\n    return key.turn()\n\n\ndef close_door(door):\n    door.shut()\n",
    "beta.py": "class Lamp:\n    def light(self):\n        return 'on'\n",
    "gamma.py": "import os\n\n\ndef home():\n    return os.environ['HOME']\n",
}


def test_index_sums_up_what_this_run_did(redis_server, redis_client, tmp_path):
    from redis_ai.search.chunks import chunk_file

    project = _project(tmp_path / "p", FIRST).resolve()

    def chunks(*names):
        return sum(len(chunk_file(str(project / n), (project / n).read_text(), "python")) for n in names)

    def index(*extra):
        out = cli("index", "--redis-url", redis_server.url, str(project), *extra)
        assert out.returncode == 0, out.stderr
        return out

    out = index()
    assert out.stderr == ""  # stderr is no terminal: no progress
    summary, embedder = out.stdout.splitlines()
    assert re.fullmatch(f"3 files seen: 3 new, 0 changed, 0 unchanged, 0 removed, 0 skipped; "
                        f"{chunks(*FIRST)} chunks written in [0-9.]+ s", summary), summary
    assert embedder.startswith("embedder pretrained made again; ")
    assert index().stdout.startswith("3 files seen: 0 new, 0 changed, 3 unchanged, 0 removed, "
                                     "0 skipped; 0 chunks written in ")

    (project / "beta.py").write_text(FIRST["beta.py"] + "\n\ndef dim(lamp):\n    lamp.level = 1\n")
    (project / "gamma.py").unlink()
    (project / "delta.py").write_text("def square(x):\n    return x * x\n")
    out = index("--json", "--progress")
    report = json.loads(out.stdout)
    assert {k: report[k] for k in ("seen", "new", "changed", "unchanged", "removed", "skipped",
                                   "chunks_written")} == {
        "seen": 3, "new": 1, "changed": 1, "unchanged": 1, "removed": 1, "skipped": 0,
        "chunks_written": chunks("beta.py", "delta.py")}
    assert report["chunks"] == chunks("alpha.py", "beta.py", "delta.py") and report["files"] == 3
    assert "indexing files" in out.stderr and "/3" in out.stderr  # asked for: drawn on stderr


def test_learn_sums_up_what_this_run_did(redis_server, redis_client, tmp_path):
    project = _project(tmp_path / "p", FIRST).resolve()

    def learn(*extra):
        out = cli("learn", "--redis-url", redis_server.url, str(project), *extra)
        assert out.returncode == 0, out.stderr
        return out

    out = learn()
    assert out.stderr == ""
    head, _, tail = out.stdout.partition("; ")
    assert head == "3 files seen: 3 new, 0 changed, 0 unchanged, 0 forgotten, 0 skipped"
    written = int(tail.split(" n-gram counts written")[0].replace(",", ""))
    from redis_ai.models import ngram

    assert written == sum(len(ngram.count(text, "python")) for text in FIRST.values())
    assert learn().stdout.startswith("3 files seen: 0 new, 0 changed, 3 unchanged, 0 forgotten, "
                                     "0 skipped; 0 n-gram counts written in ")
    (project / "alpha.py").write_text("def open_door(key):\n    return key.turn()\n")
    (project / "gamma.py").unlink()
    out = learn("--json", "--progress")
    report = json.loads(out.stdout)
    assert {k: report[k] for k in ("seen", "new", "changed", "unchanged", "forgotten")} == {
        "seen": 2, "new": 0, "changed": 1, "unchanged": 1, "forgotten": 1}
    assert report["ngrams"] > 0 and "learning files" in out.stderr


def test_make_install_puts_a_working_command_on_a_bin_folder_and_uninstall_removes_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_BIN_HOME", "MAKEFLAGS", "MAKELEVEL")}

    def make(*args):
        out = subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    for args, folder in ((["PREFIX=" + str(tmp_path / "usr")], tmp_path / "usr" / "bin"),
                         (["HOME=" + str(tmp_path / "home")], tmp_path / "home" / ".local" / "bin")):
        said = make("install", *args)
        command = folder / "redis-ai"
        assert f"{folder} is not on your PATH" in said
        ran = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path, env={**env, "PATH": "/usr/bin:/bin"})
        assert ran.returncode == 0 and ran.stdout.startswith("usage: redis-ai"), ran.stderr
        assert "removed" in make("uninstall", *args) and not os.path.lexists(command)

    # Someone else's redis-ai there is neither replaced nor removed.
    other = tmp_path / "usr" / "bin" / "redis-ai"
    other.write_text("#!/bin/sh\n")
    refused = subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={tmp_path / 'usr'}"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "not this checkout's" in refused.stdout
    assert "left alone" in make("uninstall", f"PREFIX={tmp_path / 'usr'}") and other.exists()
