"""Entry point of a worker process: ``python -m text2ml_jupyter._worker FD MEMORY_MB SCRATCH``."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from .sandbox import Limits, worker_main

if __name__ == "__main__":
    fd, memory_mb, scratch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    worker_main(Connection(fd), Limits(memory_mb=memory_mb or None), scratch)
