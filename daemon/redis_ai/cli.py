"""The ``redis-ai`` command: daemon, worker, status, doctor, bench (and the registry's commands)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import select
import signal
import sys
from collections.abc import Sequence
from typing import Any

import redis

from . import __version__, analyzers, keys
from .config import ENV_NAMESPACE, ENV_REDIS_URL, namespace
from .errors import RedisAIError

# Modules that add their own subcommands with ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = ("redis_ai.stats_cli", "redis_ai.models.cli",
                                   "redis_ai.search.cli", "redis_ai.lisp.cli", "redis_ai.mcp.cli")


def _print(data: Any, as_json: bool, render: Any) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else render(data))


def cmd_daemon(args: argparse.Namespace) -> int:
    from .daemon import Daemon
    from .store.connection import redact_url

    daemon = Daemon(
        args.redis_url, args.analyzers.split(",") if args.analyzers else analyzers.DEFAULT,
        run_workers=not args.no_workers, persistent=not args.ephemeral,
        claim_idle_ms=args.claim_idle_ms, max_deliveries=args.max_deliveries,
        stream_max_mb=args.stream_max_mb,
    )
    daemon.start()
    print(f"redis-ai daemon ready (redis {redact_url(daemon.redis_url or '')}, namespace "
          f"{keys.PREFIX})", file=sys.stderr, flush=True)
    daemon.serve_forever()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .workers.process import run_workers

    return run_workers(args.redis_url, args.group, batch=args.batch,
                       claim_idle_ms=args.claim_idle_ms, max_deliveries=args.max_deliveries)


def cmd_status(args: argparse.Namespace) -> int:
    from .status import collect, render
    from .store.connection import connect

    _print(collect(connect(args.redis_url)), args.json, render)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, render

    _print(diagnose(args.redis_url), args.json, render)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BENCHES
    from .bench._harness import render

    # Benchmarks import editors' and models' machinery: load only the one asked for.
    module = importlib.import_module(BENCHES[args.name])
    parser = argparse.ArgumentParser(prog=f"redis-ai bench {args.name}",
                                     description=(module.__doc__ or "").strip())
    parser.add_argument("--json", action="store_true", help="print JSON")
    module.add_arguments(parser)
    options = parser.parse_args(args.options)
    figures = module.run(options)
    if options.json:
        print(json.dumps(figures, indent=2, default=str))
    else:
        print(render(figures))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None,
                   help=f"Redis to use (default: ${ENV_REDIS_URL}, else the running daemon's)")
    _namespace_option(p, argparse.SUPPRESS)


def _namespace_option(p: argparse.ArgumentParser, default: str | None) -> None:
    # Accepted before the command (for every command) and after it (for these); SUPPRESS keeps
    # a command's parser from overwriting a value given before the command.
    p.add_argument("--namespace", default=default, metavar="NS",
                   help=f"prefix of every key and channel (default: ${ENV_NAMESPACE}, else the "
                        "running daemon's, else redis-ai; docs/shared-redis.md)")


def _runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--claim-idle-ms", type=int, default=30_000,
                   help="take over another consumer's entries idle this long (default 30000)")
    p.add_argument("--max-deliveries", type=int, default=3,
                   help="deliveries after which an entry goes to the dead-letter stream (default 3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redis-ai", description=__doc__)
    parser.add_argument("--version", action="version", version=f"redis-ai {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    _namespace_option(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("daemon", help="run the daemon (embedded Redis unless --redis-url)")
    _common(p)
    p.add_argument("--analyzers", help=f"comma-separated analyzers (default {','.join(analyzers.DEFAULT)})")
    p.add_argument("--no-workers", action="store_true", help="run no analyzers in the daemon")
    p.add_argument("--ephemeral", action="store_true", help="embedded Redis without persistence")
    p.add_argument("--stream-max-mb", type=int, default=128, metavar="MB",
                   help="memory the event stream may use before its oldest entries are trimmed "
                        "(default 128)")
    _runner_options(p)
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("worker", help="run analyzers as consumer-group workers in this process")
    _common(p)
    p.add_argument("--group", action="append", required=True,
                   help="analyzer (and group) name, or module:Class; repeatable")
    p.add_argument("--batch", type=int, default=32, help="stream entries read per XREADGROUP (default 32)")
    _runner_options(p)
    p.set_defaults(func=cmd_worker)

    for name, func, help_ in (("status", cmd_status, "streams, groups, pending, dead letters, live workers"),
                              ("doctor", cmd_doctor, "versions, Redis capabilities, sockets")):
        p = sub.add_parser(name, help=help_)
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=func)

    from .bench import BENCHES

    p = sub.add_parser("bench", help="run a benchmark and print its figures",
                       description=f"benchmarks: {', '.join(BENCHES)}; 'redis-ai bench NAME -h' for options")
    p.add_argument("name", choices=sorted(BENCHES))
    p.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options")
    p.set_defaults(func=cmd_bench)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _stdout_gone() -> bool:
    """Whether nothing reads standard output any more (a pipe or socket whose reader closed)."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("epc").setLevel(logging.CRITICAL)
    try:
        # A command that finds its Redis through the running daemon also takes its namespace.
        follow = args.command != "daemon" and not (getattr(args, "redis_url", None)
                                                   or os.environ.get(ENV_REDIS_URL))
        keys.use_namespace(namespace(args.namespace, follow_daemon=follow))
    except ValueError as exc:
        print(f"redis-ai: {exc}", file=sys.stderr)
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a closed pipe is seen below and not at exit
        return status
    except BrokenPipeError:
        if not _stdout_gone():
            raise  # a socket of ours broke, not the reader of our output
        # The reader went away (`redis-ai status | head`): stop quietly, as a Unix tool killed
        # by SIGPIPE would, and keep the interpreter's final flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (RedisAIError, redis.ConnectionError) as exc:
        print(f"redis-ai: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
