"""buckets: one fsspec filesystem, a local folder on `local` and S3 on `stack`."""

from __future__ import annotations

import pytest

from lab import ingest
from lab.errors import BatchFileError, LakeError
from lab.profiles import get_lake

# --- local ----------------------------------------------------------------------------------


def test_local_lake_is_a_folder_under_lab_home(lab_env):
    lake = get_lake()
    assert (lake.scheme, lake.location) == ("file", str(lab_env.home / "lake")), lake
    assert (lab_env.home / "lake").is_dir(), "expected the lake folder to be created"


def test_local_landed_batch_appears_under_lab_home_lake_raw(lab_env):
    path = ingest.land_batch("2026-11-01", rows=5)
    on_disk = lab_env.home / "lake" / "raw" / "orders" / "date=2026-11-01" / "orders.csv"
    assert on_disk.is_file(), f"expected the batch at {on_disk}"
    lake = get_lake()
    assert lake.url(path) == str(on_disk), f"expected url {on_disk}, got {lake.url(path)}"
    assert lake.read_bytes(path) == on_disk.read_bytes()
    assert lake.list("raw") == [path], f"expected [{path}], got {lake.list('raw')}"


def test_local_ensure_bucket_creates_once(lab_env):
    lake = get_lake()
    assert lake.ensure_bucket("artifacts") is True, "expected the first call to create the bucket"
    assert lake.ensure_bucket("artifacts") is False, "expected the second call to find it"
    assert (lab_env.home / "lake" / "artifacts").is_dir()


def test_local_write_read_list_round_trip():
    lake = get_lake()
    lake.ensure_bucket("raw")
    lake.write_bytes("raw/b/2.txt", b"two")
    lake.write_bytes("raw/a/1.txt", b"one")
    assert lake.read_bytes("raw/a/1.txt") == b"one"
    assert lake.exists("raw/b/2.txt") and not lake.exists("raw/c/3.txt")
    assert lake.list("raw") == ["raw/a/1.txt", "raw/b/2.txt"], lake.list("raw")
    assert lake.list("raw/nothing-here") == [], "expected an empty list for a missing prefix"


def test_local_write_to_a_missing_bucket_is_a_lake_error_with_the_fix(lab_env):
    with pytest.raises(LakeError) as info:
        get_lake().write_bytes("nobucket/x.csv", b"1")
    message = str(info.value)
    assert f"The bucket 'nobucket' does not exist at {lab_env.home / 'lake'}" in message, message
    assert "Fix: run `lab reset`" in message and "lake.ensure_bucket()" in message, message
    assert not (lab_env.home / "lake" / "nobucket").exists(), "expected nothing written"


def test_local_read_of_a_missing_object_is_a_lake_error_with_the_fix(lab_env):
    lake = get_lake()
    lake.ensure_bucket("raw")
    with pytest.raises(LakeError) as info:
        lake.read_bytes("raw/orders/date=2026-11-09/orders.csv")
    message = str(info.value)
    expected = lab_env.home / "lake" / "raw" / "orders" / "date=2026-11-09" / "orders.csv"
    assert f"No object at {expected}" in message, message
    assert "Fix: land the batch first" in message, message


def test_stack_lake_without_an_object_store_is_a_lake_error_with_the_fix(monkeypatch):
    monkeypatch.setenv("LAB_PROFILE", "stack")
    with pytest.raises(LakeError) as info:
        get_lake()
    message = str(info.value)
    assert "The `stack` profile needs an object store" in message, message
    assert "Fix: set S3_ENDPOINT_URL, S3_ACCESS_KEY and S3_SECRET_KEY" in message, message


# --- S3 (moto) ------------------------------------------------------------------------------


def test_s3_lake_points_at_the_endpoint(stack_lake):
    lake = get_lake()
    assert (lake.scheme, lake.location) == ("s3", stack_lake), lake
    assert lake.url("raw/a.csv") == "s3://raw/a.csv"


def test_s3_ensure_bucket_creates_a_missing_bucket_in_us_east_1(stack_lake):
    """us-east-1 takes no LocationConstraint; moto (like AWS) refuses one.

    (Found failing: get_lake passes client_kwargs region_name, which s3fs's mkdir turns
    into CreateBucketConfiguration LocationConstraint=us-east-1 -> InvalidLocationConstraint.)
    """
    lake = get_lake()
    assert lake.ensure_bucket("raw") is True, "expected the first call to create the bucket"
    assert lake.ensure_bucket("raw") is False, "expected the second call to find it"
    assert lake.exists("raw")


def test_s3_write_read_list_round_trip(stack_lake, create_bucket):
    create_bucket("raw")  # made outside buckets: bucket creation has its own test above
    lake = get_lake()
    assert lake.ensure_bucket("raw") is False, "expected the existing bucket to be found"
    lake.write_bytes("raw/orders/date=2026-11-02/orders.csv", b"b")
    lake.write_bytes("raw/orders/date=2026-11-01/orders.csv", b"a")
    assert lake.read_bytes("raw/orders/date=2026-11-01/orders.csv") == b"a"
    assert lake.exists("raw/orders/date=2026-11-02/orders.csv")
    assert lake.list("raw/orders") == [
        "raw/orders/date=2026-11-01/orders.csv",
        "raw/orders/date=2026-11-02/orders.csv",
    ], lake.list("raw/orders")
    assert lake.list("raw/nothing-here") == []


def test_s3_land_and_read_batch_through_the_lake(stack_lake, create_bucket):
    create_bucket("raw")
    path = ingest.land_batch("2026-11-01", rows=7)
    frame = ingest.read_batch(path)
    assert len(frame) == 7, f"expected 7 rows read back from s3://{path}, got {len(frame)}"


def test_s3_write_to_a_missing_bucket_is_a_lake_error_with_the_fix(stack_lake):
    with pytest.raises(LakeError) as info:
        get_lake().write_bytes("nobucket/x.csv", b"1")
    message = str(info.value)
    assert f"The bucket 'nobucket' does not exist at {stack_lake}" in message, message
    assert "Fix:" in message, message


def test_s3_read_of_a_missing_object_is_a_lake_error_with_the_fix(stack_lake, create_bucket):
    create_bucket("raw")
    with pytest.raises(LakeError) as info:
        get_lake().read_bytes("raw/missing.csv")
    message = str(info.value)
    assert "No object at s3://raw/missing.csv" in message, message
    assert "Fix: land the batch first" in message, message


# --- a local copy of an object ------------------------------------------------------------------


def test_local_copy_on_local_is_the_file_itself(lab_env):
    lake = get_lake()
    lake.ensure_bucket("raw")
    lake.write_bytes("raw/a/1.csv", b"one")
    with lake.local_copy("raw/a/1.csv") as local:
        assert local == lab_env.home / "lake" / "raw" / "a" / "1.csv", local
    assert local.read_bytes() == b"one", "expected the lake's own file left in place"


def test_s3_local_copy_is_a_download_removed_afterwards(stack_lake, create_bucket):
    create_bucket("raw")
    lake = get_lake()
    lake.write_bytes("raw/a/1.csv", b"one")
    with lake.local_copy("raw/a/1.csv") as local:
        assert (local.name, local.read_bytes()) == ("1.csv", b"one"), local
    assert not local.exists(), f"expected the download {local} removed after the block"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_local_copy_of_a_missing_object_is_a_batch_file_error_with_the_fix(where, request):
    if where == "s3":
        request.getfixturevalue("stack_lake")
        request.getfixturevalue("create_bucket")("raw")
    lake = get_lake()
    lake.ensure_bucket("raw")
    with pytest.raises(BatchFileError) as info:
        with lake.local_copy("raw/missing.csv"):
            pass
    message = str(info.value)
    assert message.startswith(f"The batch file {lake.url('raw/missing.csv')} is missing."), message
    assert "Fix: land it first with lab.ingest.land_batch(date)" in message, message
