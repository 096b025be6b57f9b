"""The blob store's contract on every backend: local disk, an fsspec file system without atomic
PUT (``local://``: temporary name + move) and a real S3 API (moto server on a loopback port)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from driftline.errors import BlobStoreError, CorruptBlobError, InvalidInputError
from driftline.store.blobs import TMP_PREFIX, BlobStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(params=["local", "fsspec-local", "s3"])
def blobs(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return BlobStore(tmp_path / "blobs")
    if request.param == "fsspec-local":
        return BlobStore(f"local://{tmp_path}/blobs")
    bucket = request.getfixturevalue("bucket")
    return BlobStore(f"s3://{bucket}/team/blobs")


def _raw_write(b: BlobStore, rel: str, data: bytes) -> None:
    """Write bytes behind the store's back (tampering, leftovers of a crashed put)."""
    if b.fs is None:
        (b.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (b.root / rel).write_bytes(data)
    else:
        b.fs.makedirs(f"{b.root}/{rel.rpartition('/')[0]}", exist_ok=True)
        b.fs.pipe_file(f"{b.root}/{rel}", data)


def test_put_get_keys_delete(blobs) -> None:
    data = [np.arange(i, i + 100, dtype="<f4").tobytes() for i in range(3)]
    keys = [blobs.put(d) for d in data]
    assert keys == [hashlib.sha256(d).hexdigest() for d in data]
    assert blobs.put(data[0]) == keys[0]  # idempotent
    assert [blobs.get(k) for k in keys] == data
    assert sorted(blobs.keys()) == sorted(keys)
    assert all(blobs.exists(k) and blobs.verify(k) for k in keys)
    blobs.delete(keys[1])
    blobs.delete(keys[1])  # already gone: no error
    assert not blobs.exists(keys[1]) and not blobs.verify(keys[1])
    assert sorted(blobs.keys()) == sorted([keys[0], keys[2]])
    with pytest.raises(CorruptBlobError, match="missing"):
        blobs.get(keys[1])
    with pytest.raises(InvalidInputError):
        blobs.delete("../../etc/passwd")


def test_tampered_blob_is_detected_and_replaced_by_put(blobs) -> None:
    good = b"\x01\x02" * 5000
    key = blobs.put(good)
    bad = bytearray(good)
    bad[17] ^= 0x40
    _raw_write(blobs, f"{key[:2]}/{key[2:]}", bytes(bad))
    with pytest.raises(CorruptBlobError, match=f"blob {key[:12]} is corrupt"):
        blobs.get(key, context="model m@1")
    assert blobs.verify(key) is False
    assert blobs.put(good) == key  # a corrupt stored copy is replaced
    assert blobs.get(key) == good and blobs.verify(key)


def test_temporaries_are_listed_by_age_and_removed(blobs) -> None:
    key = blobs.put(b"payload")
    tmp = f"{key[:2]}/{TMP_PREFIX}crashed-put"
    _raw_write(blobs, tmp, b"half a blob")
    assert blobs.temporaries(older_than_seconds=0) == [tmp]
    assert blobs.temporaries(older_than_seconds=3600) == []  # just written: not yet stale
    if blobs.fs is None:  # local disk: age it and check the cut-off
        old = time.time() - 7200
        os.utime(blobs.root / tmp, (old, old))
        assert blobs.temporaries(older_than_seconds=3600) == [tmp]
    assert list(blobs.keys()) == [key]  # temporaries are never keys
    blobs.remove_temporary(tmp)
    blobs.remove_temporary(tmp)
    assert blobs.temporaries(0) == []
    with pytest.raises(InvalidInputError):
        blobs.remove_temporary(f"{key[:2]}/{key[2:]}")  # a real blob is not a temporary


def test_gc_and_fsck_over_the_blob_interface(blobs) -> None:
    """What ``driftline gc`` / ``fsck`` do with the interface: keep referenced keys, delete the
    rest, verify every referenced key."""
    referenced = {blobs.put(f"tensor {i}".encode()) for i in range(4)}
    orphan = blobs.put(b"left by a failed registration")
    victim = sorted(referenced)[0]
    _raw_write(blobs, f"{victim[:2]}/{victim[2:]}", b"bit rot")
    unreferenced = set(blobs.keys()) - referenced
    for k in unreferenced:
        blobs.delete(k)
    assert unreferenced == {orphan}
    assert set(blobs.keys()) == referenced
    assert {k for k in referenced if not blobs.verify(k)} == {victim}


_PUT_SCRIPT = """
import sys, time, pathlib
sys.path.insert(0, {src!r})
from driftline.store.blobs import BlobStore
b = BlobStore({url!r})
go = pathlib.Path({go!r})
while not go.exists():
    time.sleep(0.005)
data = bytes(range(256)) * 16384
for _ in range(5):
    b.put(data)
print(b.put(data))
"""


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_concurrent_put_from_two_processes(backend, tmp_path, request) -> None:
    if backend == "s3":
        url = f"s3://{request.getfixturevalue('bucket')}/blobs"
    else:
        url = str(tmp_path / "blobs")
    go = tmp_path / "go"
    script = _PUT_SCRIPT.format(src=SRC, url=url, go=str(go))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.0)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    data = bytes(range(256)) * 16384
    key = hashlib.sha256(data).hexdigest()
    assert [o[0].strip() for o in outs] == [key, key]
    b = BlobStore(url)
    assert b.get(key) == data
    assert list(b.keys()) == [key] and b.temporaries(0) == []


def test_missing_bucket_credentials_or_endpoint_fail_with_one_line(s3_env, monkeypatch) -> None:
    import s3fs

    with pytest.raises(BlobStoreError, match="bucket or prefix does not exist"):
        BlobStore("s3://no-such-bucket/blobs")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(BlobStoreError, match="credentials") as info:
        BlobStore("s3://any-bucket/blobs")
    assert "\n" not in str(info.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(BlobStoreError, match="endpoint is reachable"):
        BlobStore("s3://any-bucket/blobs")
    s3fs.S3FileSystem.clear_instance_cache()


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="carries credentials"):
        BlobStore("s3://AKIAXXXX:secret@bucket/blobs", check=False)
