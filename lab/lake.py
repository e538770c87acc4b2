"""Object storage as one fsspec filesystem: a local folder on `local`, S3 on `stack`.

Paths are always `<bucket>/<key>`, so the same code lands a file in `.state/lake/raw/...`
or in `s3://raw/...`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fsspec

from lab.config import Settings, get_settings
from lab.errors import BatchFileError, LakeError


@dataclass
class Lake:
    """A filesystem plus the knowledge of how to show a path to a person."""

    fs: fsspec.AbstractFileSystem
    scheme: str
    location: str

    def url(self, path: str) -> str:
        """Where a path really lives: a file path on `local`, an s3:// URL on `stack`."""
        if self.scheme == "file":
            return f"{self.location}/{path}"
        return f"s3://{path}"

    def ensure_bucket(self, bucket: str) -> bool:
        """Create the bucket if it is missing; True when it was created."""
        try:
            if self.fs.exists(bucket):
                return False
            self.fs.mkdir(bucket)
        except (OSError, ValueError, *_store_errors()) as exc:
            raise LakeError(
                f"Cannot create the bucket {bucket!r} at {self.location}: {exc}. Fix: check that "
                "the object store is running and that S3_ACCESS_KEY/S3_SECRET_KEY may create buckets."
            ) from exc
        return True

    def _require_bucket(self, path: str) -> None:
        bucket = path.split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise LakeError(
                f"The bucket {bucket!r} does not exist at {self.location}. Fix: run "
                "`lab reset` (local) or the stack's bucket init job, or create it with "
                "lake.ensure_bucket()."
            )

    def write_bytes(self, path: str, data: bytes) -> str:
        self._require_bucket(path)
        self.fs.pipe_file(path, data)
        return path

    def put_file(self, local: Path, path: str) -> str:
        """Copy a local file into the lake byte for byte (a landed file is never rewritten)."""
        self._require_bucket(path)
        try:
            self.fs.put_file(str(local), path)
        except OSError as exc:
            raise LakeError(
                f"Cannot copy {local} to {self.url(path)}: {exc}. Fix: check the object store and the file."
            ) from exc
        return path

    def get_file(self, path: str, local: Path) -> None:
        """Download an object to a local file."""
        try:
            self.fs.get_file(path, str(local))
        except FileNotFoundError as exc:
            raise LakeError(f"No object at {self.url(path)}. Fix: land the batch first.") from exc

    def local_path(self, path: str) -> Path | None:
        """The object as a file on this machine (`local` profile), else None."""
        return Path(self.location) / path if self.scheme == "file" else None

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        """The landed file as a local path: itself on `local`, a temporary download on `stack`."""
        local = self.local_path(path)
        if local is not None:
            if not local.exists():
                raise BatchFileError(
                    f"The batch file {self.url(path)} is missing. Fix: land it first with "
                    "lab.ingest.land_batch(date), `lab ingest FILE` or `lab pipeline --date ...`."
                )
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="lab-ingest-") as folder:
            target = Path(folder) / Path(path).name
            try:
                self.get_file(path, target)
            except LakeError as exc:
                raise BatchFileError(
                    f"The batch file {self.url(path)} is missing. Fix: land it first with "
                    "lab.ingest.land_batch(date), `lab ingest FILE` or `lab pipeline --date ...`."
                ) from exc
            yield target

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise LakeError(
                f"No object at {self.url(path)}. Fix: land the batch first (notebook 01 or "
                "`lab pipeline`), or check the date in the path."
            ) from exc

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def list(self, prefix: str) -> list[str]:
        """Every object below a prefix, sorted (empty when the prefix does not exist)."""
        if not self.fs.exists(prefix):
            return []
        return sorted(self.fs.find(prefix))


def _store_errors() -> tuple[type[Exception], ...]:
    """What an S3 client raises when the store cannot be reached (botocore's own classes)."""
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # no S3 client installed: only the local folder is in use
        return ()
    return (BotoCoreError,)


def ensure_buckets(settings: Settings | None = None) -> list[str]:
    """Create the raw and artifacts buckets if missing; return the ones created."""
    settings = settings or get_settings()
    lake = get_lake(settings)
    return [b for b in (settings.raw_bucket, settings.artifacts_bucket) if lake.ensure_bucket(b)]


def get_lake(settings: Settings | None = None) -> Lake:
    """The object store of the active profile."""
    from lab.profiles import profile_of

    return profile_of(settings).lake()


# --- `python -m lab.lake`: the stack's `rustfs-init` job ------------------------------------

_BUCKET_SETTINGS = ("S3_ENDPOINT_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY")


def main(argv: list[str] | None = None) -> int:
    """Create the raw and artifacts buckets on the stack's object store, then exit.

    Safe to run again (existing buckets stay as they are). It retries for a while, because the
    object store may accept connections a moment before it accepts requests.
    """
    import argparse
    import sys
    import time
    from dataclasses import replace

    parser = argparse.ArgumentParser(prog="python -m lab.lake", description=main.__doc__)
    parser.add_argument("--attempts", type=int, default=10, help="tries, 2 s apart (default 10)")
    args = parser.parse_args(argv)
    settings = replace(get_settings(), profile="stack")
    missing = [name for name in _BUCKET_SETTINGS if not settings.env.get(name)]
    if missing:
        print(
            f"lab.lake: {', '.join(missing)} not set. Fix: define them in .env "
            "(see .env.example).",
            file=sys.stderr,
        )
        return 2
    buckets = (settings.raw_bucket, settings.artifacts_bucket)
    for attempt in range(1, args.attempts + 1):
        try:
            created = ensure_buckets(settings)
        except LakeError as exc:
            if attempt == args.attempts:
                print(f"lab.lake: {exc} (`make ps` shows the stack's services)", file=sys.stderr)
                return 1
            print(
                f"lab.lake: waiting for the object store at {settings.env['S3_ENDPOINT_URL']} to "
                f"answer S3 requests (attempt {attempt} of {args.attempts}, 2 s apart)",
                file=sys.stderr,
            )
            time.sleep(2)
            continue
        for bucket in buckets:
            said = "created bucket" if bucket in created else "bucket already exists:"
            print(f"lab.lake: {said} {bucket!r}")
        return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
