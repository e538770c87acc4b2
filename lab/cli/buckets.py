"""`python -m lab.cli.buckets`: the stack's `rustfs-init` job, the raw and artifacts buckets made.

It is `lab.profiles.ensure_buckets` on the `stack` profile, with retries: the object store may
accept connections a moment before it accepts requests.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from lab.config import get_settings
from lab.errors import LakeError
from lab.profiles import ensure_buckets

_BUCKET_SETTINGS = ("S3_ENDPOINT_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY")


def main(argv: list[str] | None = None) -> int:
    """Create the raw and artifacts buckets on the stack's object store, then exit.

    Safe to run again (existing buckets stay as they are). It retries for a while, because the
    object store may accept connections a moment before it accepts requests.
    """
    parser = argparse.ArgumentParser(prog="python -m lab.cli.buckets", description=main.__doc__)
    parser.add_argument("--attempts", type=int, default=10, help="tries, 2 s apart (default 10)")
    args = parser.parse_args(argv)
    settings = replace(get_settings(), profile="stack")
    missing = [name for name in _BUCKET_SETTINGS if not settings.env.get(name)]
    if missing:
        print(
            f"buckets: {', '.join(missing)} not set. Fix: define them in .env (see .env.example).",
            file=sys.stderr,
        )
        return 2
    buckets = (settings.raw_bucket, settings.artifacts_bucket)
    for attempt in range(1, args.attempts + 1):
        try:
            created = ensure_buckets(settings)
        except LakeError as exc:
            if attempt == args.attempts:
                print(f"buckets: {exc} (`make ps` shows the stack's services)", file=sys.stderr)
                return 1
            print(
                f"buckets: waiting for the object store at {settings.env['S3_ENDPOINT_URL']} to "
                f"answer S3 requests (attempt {attempt} of {args.attempts}, 2 s apart)",
                file=sys.stderr,
            )
            time.sleep(2)
            continue
        for bucket in buckets:
            said = "created bucket" if bucket in created else "bucket already exists:"
            print(f"buckets: {said} {bucket!r}")
        return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
