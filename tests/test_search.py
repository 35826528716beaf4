"""Semantic code search against a real Redis: chunking, indexing, querying by meaning,
re-indexing, the ``search`` protocol method through a real daemon, and the ``code_index``
analyzer. With REDIS_AI_TEST_REDIS=7 (no search module) the same tests run the scan backend."""

from __future__ import annotations

import json
import shutil
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from redis_ai import keys
from redis_ai.cli import main as cli_main
from redis_ai.models import registry
from redis_ai.search import chunks, lexical
from redis_ai.search import index as index_module
from redis_ai.search.backends import index_dims
from redis_ai.search.corpus import index_paths
from redis_ai.search.embed import subtokens
from redis_ai.search.index import CodeIndex
from redis_ai.search.remote import RemoteEmbedder
from tests.support.clients import EPCTestClient, RPCClient, event
from tests.test_runner import group_info, wait_for

SAMPLE = Path(__file__).parent / "samples" / "search"

PY = '''"""Module doc."""

import os

CONSTANT = 1


@decorated
def first(a, b):
    """Add."""
    return a + b


class Thing(Base):
    """A thing."""

    size = 3

    def method(self):
        return self.size

    async def other(self):
        pass


x = first(1, 2)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the sample project that a test may change."""
    target = tmp_path / "project"
    shutil.copytree(SAMPLE, target)
    return target.resolve()


@pytest.fixture
def indexed(redis_client, project):
    index = CodeIndex(redis_client)
    report = index_paths(index, [project])
    return index, report


def test_python_chunks_have_names_and_line_ranges():
    got = [(c.name, c.kind, c.start_line, c.end_line) for c in chunks.chunk_file("m.py", PY, "python")]
    assert got == [
        ("<module>", "module", 1, 5),
        ("first", "function", 8, 11),  # the decorator belongs to the function
        ("Thing", "class", 14, 18),
        ("Thing.method", "method", 19, 20),
        ("Thing.other", "method", 22, 23),
        ("<module>", "module", 26, 26),
    ]
    first = chunks.chunk_file("m.py", PY, "python", strip_docstrings=True)[1]
    assert first.text == "@decorated\ndef first(a, b):\n    return a + b"


def test_nested_definitions_are_chunks_with_qualified_names():
    text = (
        "class Outer:\n    size = 1\n\n    class Inner:\n        def method(self):\n"
        "            def helper():\n                return 1\n            return helper()\n\n"
        "    def other(self):\n        if self.size:\n            def deep():\n                pass\n"
        "\n\ndef outer():\n    class Local:\n        def go(self):\n            pass\n"
        "    return Local\n")
    got = [(c.name, c.kind, c.start_line, c.end_line) for c in chunks.chunk_file("n.py", text, "python")]
    assert got == [
        ("Outer", "class", 1, 3),
        ("Outer.Inner", "class", 4, 4),
        ("Outer.Inner.method", "method", 5, 8),
        ("Outer.Inner.method.helper", "function", 6, 7),
        ("Outer.other", "method", 10, 13),
        ("Outer.other.deep", "function", 12, 13),
        ("outer", "function", 16, 20),
        ("outer.Local", "class", 17, 17),
        ("outer.Local.go", "method", 18, 19),
    ]
    # What the encoder reads starts with the qualified name (a method's class is not in its text).
    method = chunks.chunk_file("n.py", text, "python")[2]
    assert chunks.embed_text(method).startswith("Outer.Inner.method\n        def method(self):")


def test_other_languages_and_broken_python_are_cut_into_windows_at_blank_lines():
    blocks = [f"function f{i}()\n" + "  x = 1\n" * 14 + "end\n" for i in range(6)]
    text = "\n".join(blocks)  # 6 blocks of 16 lines, a blank line between them
    got = chunks.chunk_file("a.lua", text, "lua")
    assert [c.name for c in got] == ["f0", "f2", "f4"]
    assert [(c.start_line, c.end_line) for c in got] == [(1, 33), (35, 67), (69, 101)]
    broken = chunks.chunk_file("b.py", "def f(:\n    pass\n", "python")
    assert [(c.kind, c.start_line, c.end_line) for c in broken] == [("window", 1, 2)]


def test_plain_words_find_the_right_function(indexed):
    index, report = indexed
    assert report.indexed == 6 and report.rebuilt and report.chunks == index.count() > 10
    # Some queries name what the code does in the code's own words: their function comes first.
    for query, name in {"retry the connection": "RedisLink.connect_with_retry",
                        "hash a password with salt": "hash_password",
                        "jobs queue": "M.push_job"}.items():
        hits = index.search(query, k=3)
        assert hits[0].name == name, (query, [(h.name, h.score) for h in hits])
    # Others are vaguer. On a corpus this small the embedder knows some 70 words, and a
    # module's docstring chunk or a class's may come first, but from the right file.
    for query, (file, name) in {
        "where do we retry the redis connection": ("connection.py", "RedisLink.connect_with_retry"),
        "verify a user's password": ("passwords.py", "check_password"),
        "html table": ("render.py", "render_table"),
        "read settings from the environment": ("config.py", "load_settings"),
    }.items():
        hits = index.search(query, k=3)
        got = [(h.file.rsplit("/", 1)[-1], h.name, round(h.score, 3)) for h in hits]
        assert hits[0].file.endswith("/" + file), (query, got)
        assert name in [h.name for h in hits], (query, got)
    hit = index.search("retry the connection", k=1)[0]
    assert hit.file.endswith("/app/connection.py") and (hit.line, hit.end_line) == (17, 29)
    assert hit.preview.startswith("def connect_with_retry(self):")
    assert index.kind() == "pretrained" and index.pending() == 0  # the encoder answered


def test_search_fuses_the_encoders_ranking_with_bm25s(indexed, redis_client):
    index, _ = indexed
    ids = sorted(c.decode() for c in redis_client.smembers(keys.CODE_CHUNKS))
    rows = [redis_client.hmget(keys.code_chunk(c), "text", "name") for c in ids]
    bm25 = lexical.BM25([lexical.document(t.decode(), n.decode()) for t, n in rows])
    differ = 0
    for query in ("port number", "hash password salt", "render html table", "cache expiry",
                  "retry the connection"):
        vectors = [h.id for h in index.search(query, k=50, rerank=False)]
        scores = bm25.scores(subtokens(query))
        words = [ids[i] for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        expected = [cid for cid, _ in lexical.fuse(vectors, words)][:10]
        differ += vectors[:10] != expected
        hits = index.search(query, k=10)
        assert [h.id for h in hits] == expected, query
        assert hits[0].score == pytest.approx(lexical.fuse(vectors, words)[0][1], abs=1e-4)
    assert differ  # the rankings differ somewhere, so the fusion shows
    # Reciprocal rank fusion: a chunk both rankings like beats one only one ranking puts first.
    assert lexical.fuse(["a", "b", "c"], ["c", "d"])[0][0] == "c"


@pytest.fixture
def learned(redis_client, project):
    """The sample project indexed with the learned embedder (the option, and the fallback)."""
    index = CodeIndex(redis_client)
    report = index_paths(index, [project], kind="learned")
    assert index.kind() == "learned" and report.embedder == "learned"
    return index, report


def test_the_learned_embedder_finds_the_right_function(learned):
    index, report = learned
    assert report.rebuilt and report.encoded == 0
    for query, name in {"retry the connection": "RedisLink.connect_with_retry",
                        "hash a password with salt": "hash_password",
                        "jobs queue": "M.push_job"}.items():
        hits = index.search(query, k=3)
        assert hits[0].name == name, (query, [(h.name, h.score) for h in hits])
    assert index.search("zzyzx qqq", k=3) == []  # no known word: nothing is near
    # It stays the embedder until another is asked for.
    assert not index.needs_rebuild() and index.needs_rebuild("pretrained")


def test_a_resp3_client_gets_the_same_answers(indexed, redis_server):
    index, _ = indexed
    resp3 = redis.Redis(unix_socket_path=str(redis_server.socket), protocol=3)
    try:
        other = CodeIndex(resp3)
        for query in ("retry the connection", "html table", "jobs queue"):
            assert [(h.file, h.line, round(h.score, 4)) for h in other.search(query, k=5)] == \
                [(h.file, h.line, round(h.score, 4)) for h in index.search(query, k=5)]
        if index.backend == "redis-search":
            info = resp3.execute_command("FT.INFO", keys.CODE_SEARCH_INDEX)
            assert isinstance(info, dict) and index_dims(info) == [384, 256]
    finally:
        resp3.close()


def _vectors(client, path):
    """name -> (vec, svec) of the chunks of one file."""
    out = {}
    for cid in client.smembers(keys.code_file(path)):
        name, vec, svec = client.hmget(keys.code_chunk(cid.decode()), "name", "vec", "svec")
        out[name.decode()] = (vec, svec)
    return out


def test_the_static_tier_answers_until_the_encoder_is_done_and_an_interrupted_run_resumes(
        redis_client, project, monkeypatch):
    monkeypatch.setattr(index_module, "_ENCODE_BATCH", 4)
    index = CodeIndex(redis_client)

    def interrupt(phase, done, total):
        if phase == "encoding chunks" and done >= 8:
            raise KeyboardInterrupt

    report = index_paths(index, [project], progress=interrupt)
    assert report.interrupted and (report.encoded, report.pending) == (0, 10)
    assert report.chunks == 18 and index.pending() == 10
    # Every chunk has a static vector; 8 have their encoder vector.
    stored = [redis_client.hmget(keys.code_chunk(c.decode()), "vec", "svec")
              for c in redis_client.smembers(keys.CODE_CHUNKS)]
    assert all(svec for _vec, svec in stored) and sum(1 for vec, _ in stored if vec) == 8
    # Meanwhile the static tier answers (the encoder's vectors would leave 10 chunks out).
    hits = index.search("hash a password with salt", k=18)
    assert len(hits) == 18 and hits[0].name == "hash_password"
    report = index_paths(index, [project])  # the same command goes on where it stopped
    assert not report.interrupted and (report.indexed, report.encoded, report.pending) == (0, 10, 0)
    assert index.search("retry the connection", k=1)[0].name == "RedisLink.connect_with_retry"


def test_a_changed_file_encodes_only_its_changed_chunks(indexed, project, redis_client):
    index, _ = indexed
    path = project / "app" / "connection.py"
    before = _vectors(redis_client, str(path))
    # One function changes; the lines below it move, which gives their chunks new ids.
    path.write_text(path.read_text().replace("self.url = url\n",
                                             "self.url = url\n        self.name = 'link'\n"))
    report = index_paths(index, [project])
    assert (report.indexed, report.encoded, report.pending) == (1, 1, 0)
    after = _vectors(redis_client, str(path))
    changed = [name for name in after if after[name] != before[name]]
    assert after.keys() == before.keys() and len(changed) == 1, changed
    # A file saved in the editor (index_text) is searchable with its new code at once.
    config = project / "app" / "config.py"
    index.index_text(str(config), config.read_text() +
                     "\n\ndef rotate_logs(folder):\n    for f in folder.iterdir():\n"
                     "        f.rename(f.with_suffix('.gz'))\n", "python")
    assert index.pending() == 0
    assert index.search("compress old log files", k=1)[0].name == "rotate_logs"


def test_root_limits_hits_to_a_folder(indexed, project):
    index, _ = indexed
    hits = index.search("jobs queue", k=5, root=str(project / "lua"))
    assert hits and {h.file for h in hits} == {str(project / "lua" / "queue.lua")}
    assert index.search("jobs queue", k=5, root=str(project / "nowhere")) == []


def test_root_tells_folders_apart_by_case(redis_client, project):
    upper = project.parent / "PROJECT"
    shutil.copytree(project / "lua", upper)
    index = CodeIndex(redis_client)
    index_paths(index, [project, upper.resolve()])
    hits = index.search("jobs queue", k=5, root=str(upper.resolve()))
    assert hits and {h.file for h in hits} == {str(upper.resolve() / "queue.lua")}


def test_reindexing_a_changed_file_replaces_its_chunks_and_deleted_files_go(indexed, project,
                                                                            redis_client):
    index, _ = indexed
    render = project / "app" / "render.py"
    old_ids = redis_client.smembers(keys.code_file(str(render)))
    render.write_text(
        '"""Pages."""\n\n\ndef render_list(items):\n    """Render items as an HTML list."""\n'
        '    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"\n')
    (project / "app" / "passwords.py").unlink()
    report = index_paths(index, [project])
    assert (report.indexed, report.unchanged, report.removed) == (1, 4, 1)
    new_ids = redis_client.smembers(keys.code_file(str(render)))
    assert len(new_ids) == 2 and new_ids <= redis_client.smembers(keys.CODE_CHUNKS)
    for cid in old_ids - new_ids:
        assert not redis_client.exists(keys.code_chunk(cid.decode()))
        assert not redis_client.sismember(keys.CODE_CHUNKS, cid)
    # The module chunk keeps its id (same file, line and name) and takes the new text.
    (kept,) = old_ids & new_ids
    assert redis_client.hget(keys.code_chunk(kept.decode()), "text") == b'"""Pages."""'
    names = {h.name for h in index.search("render html", k=50)}
    assert "render_list" in names and "render_table" not in names
    assert not {"hash_password", "check_password"} & names
    assert str(project / "app" / "passwords.py") not in index.files()
    files = {h.file for h in index.search("password salt hash", k=50)}
    assert str(project / "app" / "passwords.py") not in files


def test_a_new_model_reembeds_every_chunk(learned, redis_client):
    index, _ = learned
    before = index.model()
    after = index.rebuild()
    assert after.id != before.id
    ids = redis_client.smembers(keys.CODE_CHUNKS)
    made_by = {redis_client.hget(keys.code_chunk(c.decode()), "model") for c in ids}
    assert made_by == {after.id.encode()}
    assert "RedisLink.connect_with_retry" in [
        h.name for h in index.search("where do we retry the redis connection", k=2)]
    # A model of another dimension: the vector index is made again for it, the hashes stay.
    smaller = index.rebuild(dim=32)
    vecs = [redis_client.hget(keys.code_chunk(c.decode()), "vec") for c in ids]
    assert smaller.dim == 32 and {len(v) for v in vecs if v} == {32 * 4}
    assert CodeIndex(redis_client).search("retry the connection", k=1)[0].name == \
        "RedisLink.connect_with_retry"
    if index.backend == "redis-search":
        info = redis_client.execute_command("FT.INFO", keys.CODE_SEARCH_INDEX)
        fields = dict(zip(info[::2], info[1::2], strict=True))
        assert b"dim" in fields[b"attributes"][-1] and 32 in fields[b"attributes"][-1]
        assert int(fields[b"num_docs"]) == index.count()


def test_the_model_is_learned_again_when_a_fifth_of_the_corpus_changed(learned, project):
    index, first = learned
    assert first.chunks == 18 and not index.needs_rebuild()
    cache, connection = project / "app" / "cache.py", project / "app" / "connection.py"
    cache.write_text(cache.read_text().replace("ttl=60", "ttl=30"))
    report = index_paths(index, [project])  # 3 chunks of 18 written again: not yet
    assert (report.indexed, report.rebuilt) == (1, False)
    connection.write_text(connection.read_text().replace("attempts=5", "attempts=3"))
    report = index_paths(index, [project])  # 3 + 5 > 18 / 5
    assert (report.indexed, report.rebuilt) == (1, True) and not index.needs_rebuild()


def test_cli_index_and_search(redis_server, redis_client, project, capsys):
    url = ["--redis-url", redis_server.url]
    assert cli_main(["index", str(project), "--json", *url]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 6 and report["chunks"] > 10
    assert cli_main(["search", "hash a password with salt", "-k", "2", *url]) == 0
    out = capsys.readouterr().out
    assert f"{project}/app/passwords.py:8 hash_password" in out.splitlines()[0]
    assert cli_main(["search", "hash a password with salt", "--json", *url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hits"][0]["name"] == "hash_password" and data["chunks"] == report["chunks"]


def _rpc_search(daemon, params):
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        return client.request("search", params)
    finally:
        client.close()


def test_search_method_over_msgpack_rpc_and_epc(make_daemon, redis_client, project):
    daemon = make_daemon()
    err, empty = _rpc_search(daemon, {"query": "retry the connection"})
    assert err is None and empty["hits"] == [] and empty["chunks"] == 0
    index_paths(CodeIndex(redis_client), [project])
    err, result = _rpc_search(daemon, {"query": "retry the connection", "k": 2})
    assert err is None, err
    assert result["backend"] == CodeIndex(redis_client).backend
    assert result["chunks"] == redis_client.scard(keys.CODE_CHUNKS)
    top = result["hits"][0]
    assert set(top) == {"file", "line", "end_line", "name", "score", "preview"}
    assert (top["file"], top["line"], top["end_line"], top["name"]) == (
        str(project / "app" / "connection.py"), 17, 29, "RedisLink.connect_with_retry")
    assert top["preview"].startswith("def connect_with_retry(self):\n")
    assert len(result["hits"]) == 2 and result["hits"][1]["score"] <= top["score"]
    err, scoped = _rpc_search(daemon, {"query": "push a job", "root": str(project / "lua")})
    assert err is None and {h["file"] for h in scoped["hits"]} == {str(project / "lua" / "queue.lua")}
    epc = EPCTestClient(daemon.discovery["epc_port"])
    try:
        epc.hello(daemon.discovery["token"])
        answer = epc.call("search", {"query": "html table"})
        assert answer["hits"][0]["name"] == "render_table"
    finally:
        epc.close()


BAD_PARAMS = [
    ("retry", "bad_type"),
    ({}, "bad_type"),
    ({"query": 3}, "bad_type"),
    ({"query": "   "}, "bad_value"),
    ({"query": "x" * 1001}, "bad_value"),
    ({"query": "retry", "k": "3"}, "bad_type"),
    ({"query": "retry", "k": True}, "bad_type"),
    ({"query": "retry", "k": 0}, "bad_value"),
    ({"query": "retry", "k": 51}, "bad_value"),
    ({"query": "retry", "root": 5}, "bad_type"),
    ({"query": "retry", "root": "relative/path"}, "bad_value"),
]


def test_search_method_rejects_bad_params(daemon):
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        for params, code in BAD_PARAMS:
            err, result = client.request("search", params)
            assert result is None and err["code"] == code, (params, err)
        err, result = client.request("search", {"query": "retry", "k": 50})
        assert err is None and result["hits"] == []  # the connection still serves
    finally:
        client.close()


def test_code_index_analyzer_indexes_saved_buffers(make_daemon, redis_client, project):
    daemon = make_daemon(analyzers=["code_index"])
    path = project / "app" / "config.py"
    library = project / ".venv" / "lib" / "settings.py"
    text = path.read_text() + (
        "\n\ndef rotate_logs(folder):\n    \"\"\"Rename old log files and compress them.\"\"\"\n"
        "    for name in sorted(folder.iterdir()):\n        name.rename(name.with_suffix('.gz'))\n")
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        # An edit is not indexed, nor a library's file in a virtual environment; a save is.
        client.notify("event", event(file=str(path), text=text, intent="edit", tick=1))
        client.notify("event", event(file=str(library), text=text, intent="open", buffer="2"))
        client.notify("event", event(file=str(path), text=text, intent="save", tick=2))
        # Done when the save is in the stream (its file is indexed) and the group has
        # acknowledged every entry: the analyzer acks only once it has also learned the embedder
        # and written the vectors (the model's id alone appears before the vectors do).
        try:
            wait_for(lambda: redis_client.hexists(keys.CODE_FILES, str(path))
                     and group_done(redis_client, "code_index"), timeout=60,
                     what="code_index to finish with the saved buffer")
        except AssertionError as exc:
            state = (redis_client.hkeys(keys.CODE_FILES), group_info(redis_client, "code_index"))
            raise AssertionError(f"{exc}: {state}\n{daemon.log.read_text()[-3000:]}") from None
        err, result = client.request("search", {"query": "compress old log files"})
    finally:
        client.close()
    assert err is None, err
    assert result["hits"][0]["name"] == "rotate_logs" and result["hits"][0]["file"] == str(path)
    assert result["chunks"] == len(chunks.chunk_file(str(path), text, "python"))
    assert list(redis_client.hkeys(keys.CODE_FILES)) == [str(path).encode()]
    # A first file of a small project: the analyzer made the pretrained embedder and encoded
    # every chunk itself (search answers with the encoder, not the static tier).
    assert redis_client.hget(keys.CODE_MODEL, "kind") == b"pretrained"
    assert redis_client.scard(keys.CODE_PENDING) == 0


def group_done(client: redis.Redis, name: str) -> bool:
    """Whether consumer group ``name`` has been handed every stream entry and acked them all."""
    last = client.xinfo_stream(keys.EVENTS)["last-generated-id"]
    group = group_info(client, name)
    return bool(group) and group["pending"] == 0 and group["last-delivered-id"] == last


class EmbeddingServer:
    """A local server speaking OpenAI's ``POST /v1/embeddings`` wire format. Its "model" hashes
    each word of a text into one of 48 dimensions: crude, but a real other embedding."""

    DIM = 48

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append((dict(self.headers), body))
                if self.path != "/v1/embeddings" or not isinstance(body.get("input"), list):
                    self._send(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
                    return
                data = [{"object": "embedding", "index": i, "embedding": outer.vector(text)}
                        for i, text in enumerate(body["input"])]
                self._send(200, {"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": 1, "total_tokens": 1}})

            def _send(self, status: int, reply: dict[str, Any]) -> None:
                raw = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def vector(self, text: str) -> list[float]:
        out = [0.0] * self.DIM
        for word in subtokens(text):
            out[zlib.crc32(word.encode()) % self.DIM] += 1.0
        return out


@pytest.fixture
def embedding_server() -> Iterator[EmbeddingServer]:
    server = EmbeddingServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_registry_model_with_capability_embed_makes_the_vectors(
        redis_client, project, embedding_server, monkeypatch):
    index = CodeIndex(redis_client)
    learned = index_paths(index, [project], kind="learned")
    assert learned.rebuilt and index.model().dim == 192
    monkeypatch.setenv("RAI_TEST_EMBED_KEY", "sk-test")
    registry.add(redis_client, registry.Model(
        id="embedder", provider="openai", endpoint=embedding_server.url, model="hash-embed",
        capabilities=["embed"], api_key_env="RAI_TEST_EMBED_KEY"))
    assert index.needs_rebuild()  # the vectors must all come from the new model
    report = index_paths(index, [project])
    assert report.rebuilt and report.indexed == 0
    model = index.model()
    assert isinstance(model, RemoteEmbedder) and model.dim == EmbeddingServer.DIM
    headers, body = embedding_server.seen[0]
    assert headers["Authorization"] == "Bearer sk-test" and body["model"] == "hash-embed"
    assert sum(len(b["input"]) for _, b in embedding_server.seen) == report.chunks
    vecs = [redis_client.hget(keys.code_chunk(c.decode()), "vec")
            for c in redis_client.smembers(keys.CODE_CHUNKS)]
    assert {len(v) for v in vecs if v} == {EmbeddingServer.DIM * 4}
    hits = index.search("hash a password with salt", k=3)
    assert hits[0].name == "hash_password"
    assert embedding_server.seen[-1][1]["input"] == ["hash a password with salt"]
    # A saved file is embedded by the registry model too.
    config = project / "app" / "config.py"
    index.index_text(str(config), config.read_text() + "\n\ndef zebra_stripes():\n    pass\n", "python")
    assert index.search("zebra stripes", k=1)[0].name == "zebra_stripes"
    # The registry model goes: the learned model comes back, and the vector index with it.
    registry.remove(redis_client, "embedder")
    assert index.model() is None and index.search("hash a password", k=3) == []
    assert index_paths(index, [project], kind="learned").rebuilt and index.model().dim == 192
    assert index.search("hash a password with salt", k=1)[0].name == "hash_password"


def test_writers_of_the_same_file_at_once_leave_no_stray_chunks(redis_client, project):
    # `redis-ai index` and the code_index analyzer may write one file at the same moment.
    path = str(project / "shared.py")
    texts = [f"def f{n}():\n    return {n}\n\n\ndef g{n}():\n    return {n}\n" for n in range(40)]

    def writer(offset: int) -> None:
        mine = CodeIndex(redis_client)  # its own index object, as another process has
        for text in texts[offset::2]:
            mine.index_text(path, text, "python")

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live = {m.decode() for m in redis_client.smembers(keys.code_file(path))}
    assert {m.decode() for m in redis_client.smembers(keys.CODE_CHUNKS)} == live
    assert len(live) == 2
    assert sorted(k.decode() for k in redis_client.keys(keys.code_chunk("*"))) == sorted(
        keys.code_chunk(cid) for cid in live)
