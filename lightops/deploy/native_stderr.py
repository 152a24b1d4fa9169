"""Native libraries' diagnostic lines on the process's standard error, filtered.

ExecuTorch's threadpool probes the CPU when its first program loads and logs each step from C++ straight to file
descriptor 2 (``[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version``, five lines on an x86 CPU,
where the ARM files it looks for do not exist). ``sys.stderr`` never sees them, so Python's logging or warnings
filters cannot hold them back; :func:`filtered_stderr` points descriptor 2 at a temporary file for the call and then
writes back every line that does not match, errors included.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator, Pattern, Union

__all__ = ["EXECUTORCH_CPUINFO", "filtered_stderr"]

EXECUTORCH_CPUINFO = re.compile(r"^\[cpuinfo_utils\.cpp:\d+\] ")
"""ExecuTorch's CPU-probe log lines (informational; nothing a user can act on)."""


@contextmanager
def filtered_stderr(drop: Union[str, Pattern[str]] = EXECUTORCH_CPUINFO) -> Iterator[None]:
    """Run the body with file descriptor 2 captured; afterwards (also when it raises) write every captured line
    that does not match ``drop`` back to standard error, in order. Lines written by other threads meanwhile are
    captured and written back too."""
    pattern = re.compile(drop) if isinstance(drop, str) else drop
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real descriptor (an embedding host, fd 2 closed): no filter
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not pattern.match(line)]
            if kept:
                os.write(fd, "".join(kept).encode("utf-8"))
