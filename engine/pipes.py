"""Command-line output into a pipe whose reader may leave early, as ``... | head`` does."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Stop writing, quietly, when the reader of standard output has gone: it has all it
    wanted. Standard output then points at the null device, so that Python's last
    flush at exit does not fail on the closed pipe too."""
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
