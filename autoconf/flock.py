"""flock(2) on a lock file, with patience: the one lock helper of the metrics archive and
the settings snapshot.

flock(2) locks belong to the open file description, so the kernel releases one when the
process holding it dies; a crashed worker never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: How often a patient caller tries again.
RETRY_SECONDS = 0.01


@contextmanager
def flocked(path: Path, *, shared: bool = False, patience: float | None = None) -> Iterator[bool]:
    """Hold a shared or exclusive flock(2) on ``path`` (created 0600, never through a
    symlink) for the ``with`` block. Yields True once held; with a ``patience`` in seconds,
    yields False instead when the lock was not free in time (the block must then not touch
    what the lock guards). Without one, waits as long as it takes.
    """
    operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if patience is None:
            fcntl.flock(fd, operation)
            yield True
            return
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(RETRY_SECONDS)
        yield True
    finally:
        os.close(fd)  # releases the lock
