"""Every Redis key, stream, consumer group and channel redis-ai uses, in one place.

docs/keys.md lists the same names with their types and lifetimes; keep the two in step.

Keys that one command or script touches together share a hash tag (the ``{...}`` part) so they
land in one slot and the same code runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import re

DEFAULT_NAMESPACE = "redis-ai"

PREFIX = DEFAULT_NAMESPACE
"""The namespace: the first part of every key and channel (``--namespace``, docs/shared-redis.md)."""

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def use_namespace(namespace: str) -> None:
    """Make ``namespace`` the first part of every key and channel this process uses.

    Called once at start-up, before any key is used. The functions below read PREFIX when they
    are called; the constants (every upper-case name spelled from PREFIX) are rebuilt here, so
    code that reads ``keys.NAME`` at call time follows. A namespace holds no glob or hash-tag
    characters, so that ACL patterns (``~ns:*``) and SCAN patterns built from it mean what they say.

    Example: ``use_namespace("team-a")`` makes EVENTS ``team-a:{events}:stream``.
    """
    global PREFIX
    if not _NAMESPACE.match(namespace):
        raise ValueError(f"namespace {namespace!r}: use 1-64 letters, digits and _ . : - "
                         "(starting with a letter or digit)")
    old = f"{PREFIX}:"
    names = globals()
    for name, value in list(names.items()):
        if name.isupper() and isinstance(value, str) and value.startswith(old):
            names[name] = f"{namespace}:{value[len(old):]}"
    PREFIX = namespace

# -- Events in: one stream, one consumer group per analyzer, dead letters beside it ------------
EVENTS = f"{PREFIX}:{{events}}:stream"
"""Stream of editor events. Each entry holds ``n`` (a count) and ``e``, a msgpack array of
``n`` event maps: one when typing, up to 128 in a burst (ingest/writer.py). An event's id is
``<entry id>#<index>``."""

DEAD_LETTERS = f"{PREFIX}:{{events}}:dead"
"""Stream of events that failed past the delivery limit (fields: e, the msgpack array of the
failed events; group; id, the entry they came from; deliveries; failures; error)."""

COUNTERS = f"{PREFIX}:{{events}}:counters"
"""Hash of ingest counters: accepted, dropped (while Redis was down), dead, trimmed:<group>."""


EVENT_SHARDS = f"{PREFIX}:{{events}}:shards"
"""String: how many shards the event stream has; absent means 1 (plain Redis). The first daemon
or worker on a cluster sets it (SET NX) to the number of masters; change it only with every
process stopped (a buffer's shard follows from the count, docs/cluster.md)."""


def events(shard: int = 0) -> str:
    """The stream of one shard of the events: shard 0 is EVENTS itself, shard i > 0 has the hash
    tag ``{events:i}``, so on a cluster the shards spread over the masters. An event's shard
    follows from its client and buffer (ingest/writer.py), so one buffer's events stay in order."""
    return EVENTS if shard == 0 else f"{PREFIX}:{{events:{shard}}}:stream"


def failures(group: str, shard: int = 0) -> str:
    """Hash of entry id -> deliveries of that entry in which ``group``'s analyzer failed, for
    the pending entries of shard ``shard`` that failed; the field goes when the entry is
    acknowledged. Entry ids repeat across shards, hence one hash per shard."""
    tag = "events" if shard == 0 else f"events:{shard}"
    return f"{PREFIX}:{{{tag}}}:failures:{group}"


def group(analyzer: str) -> str:
    """Consumer group name on EVENTS for an analyzer (the analyzer's own name)."""
    return analyzer


# -- Results back: one pub/sub channel per editor client ---------------------------------------
def results_channel(client: str) -> str:
    """Pub/sub channel on which every result for ``client`` is published."""
    return f"{PREFIX}:results:{client}"


def latest_results(path: str) -> str:
    """Hash of analyzer -> the msgpack result it last published for the file ``path``
    (diagnostics and hints only), for the MCP server; expires a day after the last write."""
    return f"{PREFIX}:{{latest}}:file:{path}"


DIAGNOSTICS_CHANGES = f"{PREFIX}:diagnostics:changes"
"""Pub/sub channel: the path of a file each time a diagnostics or hints result for it is
published (the MCP server turns these into resource-updated notifications)."""


# -- Live workers and daemons: sets of ids, each id kept alive by a key with a TTL -------------
WORKERS = f"{PREFIX}:{{live}}:workers"
DAEMONS = f"{PREFIX}:{{live}}:daemons"
MCP_SERVERS = f"{PREFIX}:{{live}}:mcp-servers"


def mcp_server(server_id: str) -> str:
    """Hash describing one live ``redis-ai mcp`` server; expires unless its heartbeat renews it."""
    return f"{PREFIX}:{{live}}:mcp-server:{server_id}"


def worker(worker_id: str) -> str:
    """Hash describing one live worker; expires unless its heartbeat renews it."""
    return f"{PREFIX}:{{live}}:worker:{worker_id}"


def daemon(daemon_id: str) -> str:
    """Hash describing one live daemon; expires unless its heartbeat renews it."""
    return f"{PREFIX}:{{live}}:daemon:{daemon_id}"


# -- The model registry: one hash per model, capability index sets ----------------------------
MODELS = f"{PREFIX}:{{models}}:all"


def model(model_id: str) -> str:
    return f"{PREFIX}:{{models}}:model:{model_id}"


def capability(cap: str) -> str:
    """Set of model ids that offer capability ``cap``."""
    return f"{PREFIX}:{{models}}:cap:{cap}"


# -- Analytics: sorted sets of measurements, bounded by time ----------------------------------
def stat(metric: str, subject: str) -> str:
    """Sorted set of samples of ``metric`` for one analyzer or model, scored by time.

    One hash tag per subject: on a cluster the subjects spread over the masters, and one
    subject's metrics stay together."""
    return f"{PREFIX}:{{stats:{subject}}}:{metric}"


STAT_SUBJECTS = f"{PREFIX}:{{stats}}:subjects"
"""Set of analyzer and model names that have analytics (refreshed once a second per writer)."""

# -- Offline completion model: n-gram counts learned from the user's code ---------------------


def ngram(language: str, context_hash: str) -> str:
    """Sorted set of next tokens (member) and their counts (score) after one context."""
    return f"{PREFIX}:{{ngram:{language}}}:next:{context_hash}"


def ngram_files(language: str) -> str:
    """Hash of file path -> content hash of the files the n-gram model has learned."""
    return f"{PREFIX}:{{ngram:{language}}}:files"


def ngram_sources(language: str) -> str:
    """Hash of file path -> zlib-compressed text last learned from it, so a changed file's old
    n-grams can be subtracted before its new ones are added."""
    return f"{PREFIX}:{{ngram:{language}}}:sources"


def ngram_after(language: str, line_hash: str) -> str:
    """Sorted set of the lines (stripped, member) that followed one line, and how often."""
    return f"{PREFIX}:{{ngram:{language}}}:after:{line_hash}"


def ngram_lines(language: str) -> str:
    """Sorted set of every learned line (stripped), all scored 0, for prefix lookups by lex."""
    return f"{PREFIX}:{{ngram:{language}}}:lines"


def ngram_line_counts(language: str) -> str:
    """Hash of learned line (stripped) -> how many times it occurs in the learned files."""
    return f"{PREFIX}:{{ngram:{language}}}:line_counts"


def completion_offer(client: str, buffer: str) -> str:
    """String (msgpack) of the last completion offered to one client's buffer, kept briefly so
    a user typing what it shows keeps seeing the rest of it (type-through)."""
    return f"{PREFIX}:completion:offer:{client}:{buffer}"


def next_edit_state(client: str, buffer: str) -> str:
    """Hash of one client's buffer as the next_edit analyzer last saw it: ``state`` (msgpack
    ``{tick, first, row, line, offered, base}``: the latest text is the base with line ``row``
    set to ``line``) and ``base`` (msgpack ``[hash, text]``, the text before the edit under way,
    rewritten only when an edit starts)."""
    return f"{PREFIX}:next_edit:state:{client}:{buffer}"


# -- Semantic code search (search/) --------------------------------------------------------
CODE_CHUNKS = f"{PREFIX}:{{code}}:chunks"
"""Set of the ids of every indexed chunk."""

CODE_CHUNK_PREFIX = f"{PREFIX}:{{code}}:chunk:"
"""Prefix of the chunk hashes; the search module's index covers exactly these keys."""


def code_chunk(chunk_id: str) -> str:
    """Hash of one chunk: file, start_line, end_line, name, kind, language, scope, preview,
    text, vec (FLOAT32 bytes) and model (the id of the model that made vec)."""
    return f"{CODE_CHUNK_PREFIX}{chunk_id}"


def code_file(path: str) -> str:
    """Set of the ids of the chunks of one file (so re-indexing it replaces them)."""
    return f"{PREFIX}:{{code}}:file:{path}"


CODE_FILES = f"{PREFIX}:{{code}}:files"
"""Hash of indexed file path -> hash of the content indexed."""

CODE_MODEL = f"{PREFIX}:{{code}}:model"
"""Hash: the embedder (id, kind, dim, chunks, changed, built; learned: words, idf, vectors,
mean; remote: registry, the id of the registry model that makes the vectors)."""

CODE_GENERATION = f"{PREFIX}:{{code}}:generation"
"""String: a random token replaced on every change of the chunks, so readers know when a copy
of the vectors they hold is stale."""

CODE_PENDING = f"{PREFIX}:{{code}}:pending"
"""Set of the ids of the chunks still waiting for their encoder vector (search/pretrained.py)."""

CODE_SEARCH_INDEX = f"{PREFIX}:{{code}}:idx"
"""Name of the search module's vector index over the chunk hashes (FT.CREATE), where there is
a search module."""



# -- Stored Lisp programs (lisp/) -------------------------------------------------------------
LISP_PROGRAMS = f"{PREFIX}:{{lisp}}:programs"
"""Set of the names of the stored Lisp programs."""

LISP_VERSION = f"{PREFIX}:{{lisp}}:version"
"""Counter bumped (in the same transaction) by every define and remove: analyzers reload the
programs when it moves."""

LISP_CHANGES = f"{PREFIX}:lisp:changes"
"""Pub/sub channel announcing each change: ``define NAME`` or ``remove NAME``."""


def lisp_program(name: str) -> str:
    """List of a program's top-level forms, one element per form, as source text."""
    return f"{PREFIX}:{{lisp}}:program:{name}"


def lisp_meta(name: str) -> str:
    """Hash of a program's metadata: description, kind, languages, version, updated, ..."""
    return f"{PREFIX}:{{lisp}}:meta:{name}"


def lisp_versions(name: str) -> str:
    """Hash of a program's versions: version -> JSON of its forms, metadata and lineage."""
    return f"{PREFIX}:{{lisp}}:versions:{name}"


def lisp_candidates(name: str) -> str:
    """List of the candidates ``redis-ai evolve`` tried for a program, newest first (JSON)."""
    return f"{PREFIX}:{{lisp}}:candidates:{name}"


PROBE = f"{PREFIX}:{{meta}}:probe"
"""Never written: read to learn whether the server has a command (vector sets' VCARD)."""

META = f"{PREFIX}:{{meta}}:meta"
"""Hash: the keyspace's schema version and the redis-ai version of the daemon that last started on
it (each daemon writes it at start)."""
