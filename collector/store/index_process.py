"""The collector's index process: `python -m collector.store.index_process FD SETTINGS PID`.

Started by the Writer (process PID) with one end of a socket pair (FD) and its IndexSettings
as JSON; runs the IndexLoop until told to stop or until the collector is gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from multiprocessing.connection import Connection

from collector import LOG_FORMAT
from collector.store.writer import IndexSettings, run_index_loop

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15


def main(argv: list[str]) -> None:
    """Serve the index loop for the collector that started us."""
    libc = ctypes.CDLL(None, use_errno=True)
    # Die with the collector, even when it is killed with SIGKILL: a loop left behind would
    # index alongside the next collector's.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(argv[2]):  # it died before the line above took effect
        return
    libc.prctl(PR_SET_NAME, b"vigie-indexer")  # what ps and top show
    # Ctrl-C reaches the whole process group; the collector tells us when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    run_index_loop(IndexSettings.from_json(argv[1]), Connection(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
