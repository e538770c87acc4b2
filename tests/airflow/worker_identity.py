"""`[core] hostname_callable` for the test's Celery workers.

Both workers run on this machine, so the default (the FQDN) would give every task instance
the same `hostname`; each worker process gets its own name in LAB_TEST_WORKER_NAME instead.
"""

import os


def hostname() -> str:
    return os.environ["LAB_TEST_WORKER_NAME"]
