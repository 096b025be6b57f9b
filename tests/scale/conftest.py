"""Fixtures of the scale tests: an S3 API (moto in server mode on a loopback port), the
PostgreSQL 15 database of ``tests/conftest.py`` (``pg_url``), and a small Dask cluster."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


S3_ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """Start moto's S3 server on 127.0.0.1:<free port>; point boto/s3fs at it through the
    ordinary AWS environment variables (how a user configures a real endpoint too)."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in S3_ENV_KEYS}
    os.environ.update(env)
    _clear_s3fs()
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_s3fs()
        server.stop()


def _clear_s3fs() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture()
def bucket(s3_env, request) -> str:
    """A fresh bucket per test; returns its name."""
    import re

    import boto3

    name = "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    boto3.client("s3").create_bucket(Bucket=name)
    return name
