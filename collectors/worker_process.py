"""A worker process of ``collectors.workers``: ``python -m collectors.worker_process``.

Its own module, so that the job loop and what it pickles are imported under their real
names (``collectors.workers.*``, not ``__main__.*``) for the parent to load.
"""

from __future__ import annotations

import sys

from collectors.workers import serve_jobs

if __name__ == "__main__":
    serve_jobs(sys.stdin.buffer, sys.stdout.buffer)
