"""Large frames give their memory back to the system once freed (glibc's malloc; elsewhere a no-op).

glibc serves a block of at least M_MMAP_THRESHOLD bytes with a mapping of its own, unmapped when
the block is freed; smaller blocks come from heaps it keeps. The threshold starts at 128 KiB, but
each time a mapped block is freed it rises to that block's size (up to 32 MiB). So after one
large frame every later one is carved from the heaps, in the arena of whichever connection
thread read it (up to 8 arenas per core), and stays resident after it is freed: measured over
600 fuzzing connections with frames of 1 and 5 MiB, the daemon grew from 53 MB to 93 MB and
stayed there, while Python itself held no more objects than before (tracemalloc).

Fixing the threshold stops the adjustment. At 1 MiB the 256 KiB socket reads of the hot path
still come from the heaps (reused at once, no system call), and only frames of 1 MiB or more
are mapped and unmapped: the same run then ends at 60 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 1 << 20
"""Blocks of this size or more are mapped on their own and unmapped when freed."""

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_done = False


def return_large_blocks() -> bool:
    """Make blocks of MMAP_THRESHOLD or more go back to the system when freed; True if done.

    Idempotent. Leaves the allocator alone where it is not glibc's, or where the user tuned it
    with MALLOC_MMAP_THRESHOLD_ (glibc's own environment variable).
    """
    global _done
    if _done:
        return True
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # musl, macOS: no mallopt, and no dynamic threshold to defeat
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _done
