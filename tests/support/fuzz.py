"""Malformed input for the daemon's two endpoints, sent over real sockets, and its memory.

Each ``*_garbage`` function opens one connection, sends one kind of bad input, and hangs up
(with or without reading the answer), as a fuzzer or a crashing editor would.
"""

from __future__ import annotations

import json
import random
import socket

import msgpack


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB (/proc/<pid>/status VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def epc_frame(sexp: bytes) -> bytes:
    """An EPC frame: six hex digits of length, then the S-expression."""
    return b"%06x" % len(sexp) + sexp


def epc_call(uid: int, method: str, params: object) -> bytes:
    """The frame of an EPC call of ``method`` with one JSON string argument."""
    arg = json.dumps(json.dumps(params))
    return epc_frame(f"(call {uid} {method} ({arg}))".encode())


def rpc_request(msgid: int, method: str, params: object) -> bytes:
    return msgpack.packb([0, msgid, method, [params]], unicode_errors="surrogateescape")


def send(family: int, address: object, payload: bytes, read: bool) -> None:
    """Connect, send ``payload``, then read until the daemon is done or hang up at once."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(address)
        if payload:
            sock.sendall(payload)
        if read:
            sock.shutdown(socket.SHUT_WR)  # the daemon sees the end and answers what it read
            while sock.recv(1 << 16):
                pass
    except OSError:
        pass  # the daemon may close first: that is one of the answers to garbage
    finally:
        sock.close()


def rpc_garbage(rng: random.Random) -> bytes:
    """One of the kinds of bad msgpack-RPC input, chosen by ``rng``."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4096))
    if kind == 1:  # a message cut short
        frame = rpc_request(1, "hello", {"protocol": 1, "editor": "x" * rng.randrange(100)})
        return frame[: rng.randrange(1, len(frame))]
    if kind == 2:  # a frame past the 4 MiB limit
        size = 5 << 20
        return b"\xc6" + size.to_bytes(4, "big") + bytes(size)
    if kind == 3:  # nested arrays
        return b"\x91" * rng.randrange(1, 100_000)
    if kind == 4:  # many frames that are not messages
        return b"".join(msgpack.packb(rng.randrange(1000)) for _ in range(rng.randrange(1, 200)))
    if kind == 5:  # a large frame that is not a message (under the limit)
        size = rng.choice([1, 3]) << 20
        return b"\xc6" + size.to_bytes(4, "big") + rng.randbytes(64) * (size // 64)
    return b""  # connect and drop


def epc_garbage(rng: random.Random) -> bytes:
    """One of the kinds of bad EPC input, chosen by ``rng``."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4096))
    if kind == 1:  # S-expressions that do not read, or are not calls
        return epc_frame(rng.choice([
            b"(call 1 hello", b"))))", b'(call 1 hello ("x"', b'"open', b"(call . . )",
            b"(call 1 2 3 4 5)", b"(call 1 hello 5)", b'(call 1 hello "x")', b"(return 7 nil)",
            b"(", b"\xff\xfe(call)", b"(" * 5000]))
    if kind == 2:  # a frame cut short
        return b"%06x" % 1000 + b"(call 1 hello"
    if kind == 3:  # a large frame
        size = rng.choice([1, 2]) << 20
        return epc_frame(b'(call 1 hello ("' + b"a" * size + b'"))')
    if kind == 4:  # a length header that is not hex
        return b"zzzzzz(call 1 hello)"
    if kind == 5:
        return epc_frame(b"(call 1 hello (1 2))") * rng.randrange(1, 50)
    return b""
