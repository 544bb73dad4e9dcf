"""Smoke test of tests/s3_server.py: a moto S3 server on 127.0.0.1 configures pyarrow through
the environment alone (``FileSystem.from_uri`` gets no endpoint argument), as the end-to-end
tests that run Ray Data / Train / Tune against ``s3://`` rely on."""

from __future__ import annotations

import os
import socket

from pyarrow import fs as pafs
from s3_server import LOOPBACK, create_bucket, moto_s3_server, s3_client_env


def test_pyarrow_round_trip_against_moto_configured_by_env_only():
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    with moto_s3_server() as server, s3_client_env(server.endpoint_url):
        assert server.endpoint_url.startswith(f"http://{LOOPBACK}:")
        create_bucket("smoke")

        s3, path = pafs.FileSystem.from_uri("s3://smoke/dir/hello.txt")
        assert isinstance(s3, pafs.S3FileSystem)
        assert path == "smoke/dir/hello.txt"

        with s3.open_output_stream(path) as out:
            out.write(b"hello moto")
        with s3.open_input_stream(path) as stream:
            assert stream.read() == b"hello moto"

        listed = s3.get_file_info(pafs.FileSelector("smoke", recursive=True))
        assert {(info.path, info.type) for info in listed} == {
            ("smoke/dir", pafs.FileType.Directory),
            ("smoke/dir/hello.txt", pafs.FileType.File),
        }
        assert s3.get_file_info(path).size == len(b"hello moto")

        # The object really went to this server: a client pointed at it explicitly sees it.
        explicit = pafs.S3FileSystem(endpoint_override=server.endpoint_url)
        assert explicit.get_file_info(path).type == pafs.FileType.File

        s3.delete_file(path)
        assert s3.get_file_info(path).type == pafs.FileType.NotFound
        assert explicit.get_file_info(path).type == pafs.FileType.NotFound

    # Afterwards the environment is restored and the server is gone.
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        assert sock.connect_ex((LOOPBACK, server.port)) != 0
