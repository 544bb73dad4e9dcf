"""A throwaway S3-compatible server (moto) on 127.0.0.1 for end-to-end tests.

Why a real server and not ``moto.mock_aws``: the code under test talks to S3 through pyarrow's
C++ S3 client and through Ray worker processes, neither of which goes through botocore, so an
in-process botocore mock never sees their requests. ``moto_server`` is a plain HTTP server: every
process on this machine (the test, Ray's raylet-spawned workers, Ray Train/Tune's storage layer)
reaches it through the same ``AWS_ENDPOINT_URL`` environment variable, exactly as they would reach
a real S3-compatible store. It binds 127.0.0.1 only and keeps everything in memory, so each
server starts empty and nothing outlives the test.

Usage::

    with moto_s3_server() as server, s3_client_env(server.endpoint_url):
        create_bucket("data")
        fs, path = pyarrow.fs.FileSystem.from_uri("s3://data/key")  # configured by env alone

This module holds helpers only (no tests); ``moto[server]`` comes with the ``dev`` extra.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
# moto accepts any credentials; these are the conventional dummy values of its docs.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

# Variables that would make a client use other credentials or another endpoint than the ones
# set here: removed for the duration of ``s3_client_env`` and restored afterwards.
_CONFLICTING_ENV = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


@dataclass(frozen=True)
class S3Server:
    """A running moto server: where to reach it and its process id."""

    host: str
    port: int
    pid: int
    log_path: Path

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``AWS_ENDPOINT_URL``."""
        return f"http://{self.host}:{self.port}"


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _answers(endpoint_url: str) -> bool:
    """True once the server answers HTTP at all (any status); proxies are bypassed."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint_url}/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP error status is still an answer
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue


def _log_tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def moto_s3_server(
    startup_timeout: float = STARTUP_TIMEOUT_S, attempts: int = 3
) -> Iterator[S3Server]:
    """Run ``python -m moto.server`` on 127.0.0.1 at a free port for the ``with`` block.

    The server runs in its own session (process group) so that it, and anything it spawns, is
    terminated on exit however the block ends; its log folder is removed then too. Its output
    goes to a log file rather than a pipe: werkzeug logs every request and an unread pipe would
    eventually block the server. Start-up
    waits at most ``startup_timeout`` seconds per attempt; a port taken between choosing and
    binding it is retried on another port (``attempts`` in all).
    """
    log_dir = Path(tempfile.mkdtemp(prefix="moto-s3-"))
    try:
        last_error = "no attempt made"
        for attempt in range(attempts):
            port = free_loopback_port()
            log_path = log_dir / f"moto_server.{attempt}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                server = S3Server(host=LOOPBACK, port=port, pid=proc.pid, log_path=log_path)
                deadline = time.monotonic() + startup_timeout
                while proc.poll() is None and time.monotonic() < deadline:
                    if _answers(server.endpoint_url):
                        break
                    time.sleep(0.1)
                else:
                    state = "exited" if proc.poll() is not None else "did not answer in time"
                    last_error = f"moto server on port {port} {state}:\n{_log_tail(log_path)}"
                    continue
                yield server
                return
            finally:
                _stop(proc)
        raise RuntimeError(f"could not start moto server in {attempts} attempts; {last_error}")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def s3_client_env_vars(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """The variables that point pyarrow, botocore and Ray workers at ``endpoint_url``.

    Pass this dict as ``runtime_env={"env_vars": ...}`` when Ray was started before the
    variables were set (workers then do not inherit them from the driver).

    - ``AWS_ENDPOINT_URL`` (and the S3-specific ``AWS_ENDPOINT_URL_S3``, which would otherwise
      win if set outside): ``pyarrow.fs.FileSystem.from_uri("s3://...")`` (what Ray Data, Ray
      Train/Tune storage and ``crossmodal_ray.pipelines.core.storage`` call) and botocore take
      the endpoint, scheme included, from it. A bare ``pyarrow.fs.S3FileSystem()`` does NOT read
      it (pyarrow 26): construct that one with ``endpoint_override=`` explicitly.
    - dummy static credentials: moto accepts any, and static ones keep the SDK from searching
      the credential chain (profiles, container and EC2 metadata endpoints).
    - ``AWS_DEFAULT_REGION`` / ``AWS_REGION``: a fixed region, so no client tries to discover
      one (pyarrow skips its bucket-region lookup anyway once an endpoint is set).
    - ``AWS_EC2_METADATA_DISABLED``: no EC2 instance-metadata (169.254.169.254) lookups, which
      would otherwise send traffic off this machine and stall each client for seconds.
    - ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE``: an empty file, so a developer's
      ``~/.aws`` profiles cannot change region, endpoint or credentials.
    - ``NO_PROXY`` / ``no_proxy``: loopback is never sent through an HTTP proxy.
    """
    inherited = [h for var in ("NO_PROXY", "no_proxy") for h in os.environ.get(var, "").split(",")]
    no_proxy = ",".join(dict.fromkeys([*filter(None, inherited), LOOPBACK, "localhost"]))
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ENDPOINT_URL_S3": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


@contextlib.contextmanager
def s3_client_env(endpoint_url: str, region: str = REGION) -> Iterator[dict[str, str]]:
    """Set ``s3_client_env_vars`` in ``os.environ`` for the block, then restore it exactly.

    Variables that could redirect credentials (session tokens, profiles, role/web-identity and
    container-credential settings) are removed meanwhile. Child processes started inside the
    block (a local ``ray.init``, its workers) inherit the settings. Yields the dict that was set.
    """
    values = s3_client_env_vars(endpoint_url, region)
    touched = [*values, *_CONFLICTING_ENV]
    saved = {key: os.environ.get(key) for key in touched}
    try:
        for key in _CONFLICTING_ENV:
            os.environ.pop(key, None)
        os.environ.update(values)
        yield values
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def create_bucket(name: str, endpoint_url: str | None = None) -> None:
    """Create bucket ``name`` through ``pyarrow.fs`` (the client the project itself uses).

    Without ``endpoint_url`` the endpoint is read from ``AWS_ENDPOINT_URL_S3`` /
    ``AWS_ENDPOINT_URL`` (set by ``s3_client_env``). It is passed on explicitly because a bare
    ``pyarrow.fs.S3FileSystem()`` ignores those variables (only ``FileSystem.from_uri`` reads
    them, pyarrow 26) and would go to real AWS; with no endpoint at all this raises instead.
    pyarrow refuses to create buckets unless ``allow_bucket_creation=True`` is passed.
    """
    from pyarrow import fs

    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if not endpoint:
        raise RuntimeError("no S3 endpoint: pass endpoint_url or use s3_client_env()")
    fs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir(name)
