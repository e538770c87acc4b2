"""Create the sandbox's buckets on the object store, then exit (the `rustfs-init` job).

Reads S3_ENDPOINT_URL, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, LAB_RAW_BUCKET and
LAB_ARTIFACTS_BUCKET. Safe to run again: existing buckets are kept as they are. It retries for a
while because the object store may accept connections a moment before it accepts requests.

tests/stack/test_bucket_init.py runs this file against a moto S3 server.
"""

from __future__ import annotations

import os
import sys
import time

REQUIRED = ("S3_ENDPOINT_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY", "LAB_RAW_BUCKET",
            "LAB_ARTIFACTS_BUCKET")


def main() -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"create_buckets: {', '.join(missing)} not set. Fix: define them in .env "
              "(see .env.example).", file=sys.stderr)
        return 2

    import s3fs  # from the project's lock; imported late so the message above needs nothing

    region = os.environ.get("S3_REGION") or "us-east-1"
    fs = s3fs.S3FileSystem(
        key=os.environ["S3_ACCESS_KEY"],
        secret=os.environ["S3_SECRET_KEY"],
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        # s3fs sends the client's region as the bucket's LocationConstraint, which S3 refuses
        # for us-east-1: name the region only when it is another one.
        client_kwargs={} if region == "us-east-1" else {"region_name": region},
        config_kwargs={"retries": {"max_attempts": 2}, "connect_timeout": 5},
    )
    buckets = (os.environ["LAB_RAW_BUCKET"], os.environ["LAB_ARTIFACTS_BUCKET"])
    attempts = int(os.environ.get("CREATE_BUCKETS_ATTEMPTS", "10"))
    for attempt in range(1, attempts + 1):
        try:
            existing = {entry.rstrip("/") for entry in fs.ls("", refresh=True)}
            for bucket in buckets:
                if bucket in existing:
                    print(f"create_buckets: bucket {bucket!r} already exists")
                else:
                    fs.mkdir(bucket)
                    print(f"create_buckets: created bucket {bucket!r}")
            return 0
        except Exception as exc:  # any failure is retried, then reported
            if attempt == attempts:
                print(f"create_buckets: could not create {', '.join(buckets)} at "
                      f"{os.environ['S3_ENDPOINT_URL']}: {exc}. Fix: check that the object "
                      "store is up (`make ps`) and that the keys in .env match it.",
                      file=sys.stderr)
                return 1
            time.sleep(2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
