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
