"""``redis-ai index PATH...`` and ``redis-ai search QUERY``: semantic code search from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import BadEvent
from ..models.providers.base import ProviderError
from ..progress import Bars
from ..progress import add_argument as add_progress_argument
from ..store.connection import connect
from .corpus import index_paths
from .index import KINDS, shared
from .service import search_request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``index`` and ``search`` commands to the ``redis-ai`` parser."""
    p = subparsers.add_parser(
        "index", help="index source files for semantic code search",
        description="Index the source files under PATH (changed files only; gone files are "
                    "forgotten) and learn the embedder again when the code changed enough.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--rebuild", action="store_true", help="make the embedder again anyway")
    p.add_argument("--embedder", choices=KINDS, default=None,
                   help="pretrained (all-MiniLM-L6-v2, the default) or learned (from your code); "
                        "kept until asked again")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--redis-url", help="Redis to use (default: the running daemon's)")
    add_progress_argument(p)
    p.set_defaults(func=cmd_index)

    p = subparsers.add_parser(
        "search", help="find indexed code by meaning, in plain words",
        description="Print the indexed functions, classes and blocks nearest to QUERY.")
    p.add_argument("query", nargs="+", metavar="QUERY", help="what to look for, in plain words")
    p.add_argument("-k", type=int, default=10, help="how many hits (1-50, default 10)")
    p.add_argument("--root", help="only files under this folder")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--redis-url", help="Redis to use (default: the running daemon's)")
    p.set_defaults(func=cmd_search)


def cmd_index(args: argparse.Namespace) -> int:
    """Index the paths and print what was done."""
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(f"redis-ai index: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    client = connect(args.redis_url)
    try:
        with Bars(args.progress) as bars:
            report = index_paths(shared(client), args.paths, rebuild=args.rebuild,
                                 kind=args.embedder, progress=bars).as_dict()
    except ProviderError as exc:
        print(f"redis-ai index: the embedding model failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['seen']:,} files seen: {report['new']:,} new, {report['changed']:,} changed, "
              f"{report['unchanged']:,} unchanged, {report['removed']:,} removed, "
              f"{report['skipped']:,} skipped; {report['chunks_written']:,} chunks written "
              f"in {report['seconds']:.2f} s")
        print(f"embedder {report['embedder']} {'made again' if report['rebuilt'] else 'kept'}; "
              f"{report['encoded']:,} chunks encoded; the index holds "
              f"{report['chunks']:,} chunks from {report['files']:,} files "
              f"(backend {report['backend']})")
        if report["pending"]:
            print(f"interrupted: {report['pending']:,} chunks still wait for the encoder (search "
                  "answers with the static tier meanwhile); run the same command to go on")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the hits for the query: ``file:line name score`` and a preview."""
    params: dict[str, Any] = {"query": " ".join(args.query), "k": args.k}
    if args.root:
        params["root"] = os.path.abspath(args.root)
    client = connect(args.redis_url)
    try:
        result = search_request(client, params)
    except BadEvent as exc:
        print(f"redis-ai search: {exc.message}", file=sys.stderr)
        return 2
    except ProviderError as exc:
        print(f"redis-ai search: the embedding model failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if not result["hits"]:
        hint = " (run 'redis-ai index PATH' first)" if not result["chunks"] else ""
        print(f"no hits among {result['chunks']} chunks{hint}")
    for hit in result["hits"]:
        print(f"{hit['file']}:{hit['line']} {hit['name']} {hit['score']:.3f}")
        for line in hit["preview"].splitlines():
            print(f"    {line}")
    return 0
