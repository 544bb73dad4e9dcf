"""One door to every corpus, checkpoint and report file: local paths, ``s3://`` and ``gs://``.

Shards, manifests, rejected tables, checkpoints, grouping files and sweep reports are read and
written through these functions, never through ``pathlib``/``os``: on a cluster they live on
shared storage, and an object store has no rename, no directories and no ``Path.exists``.
Built on ``pyarrow.fs`` (the same layer Ray Data and Ray Train use), so a location is a plain
string everywhere: ``/data/shards``, ``runs``, ``s3://bucket/shards``, ``gs://bucket/runs``.

Object-store credentials and endpoints come from the usual environment, which pyarrow reads:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_DEFAULT_REGION`` (or an instance role) and
``AWS_ENDPOINT_URL`` for an S3-compatible server (MinIO, moto, Ceph); ``GOOGLE_APPLICATION_
CREDENTIALS`` for GCS. Ray workers inherit the driver's environment on a local Ray; on a cluster
the nodes carry their own credentials.

Atomic publication: :func:`write_text_atomic` writes a temporary object next to the target and
then moves it into place (a rename on a local disk; copy + delete on S3/GCS, where the copy
makes the target appear whole or not at all). The ingest's manifest relies on it.

A full disk is not a bad input: a write that fails with ``ENOSPC`` (or ``EDQUOT``) is raised as
:class:`NoSpaceLeftError`, "no space left on device while writing <path>: free space and run
again", which stops the job (the ingest writes no manifest then). Tests simulate it with
``CROSSMODAL_SIMULATE_DISK_FULL_AFTER_BYTES=<n>`` (``disk_full_simulation.py``): local files
are then written through a filesystem whose writes fail with ``ENOSPC`` once a process has
written ``n`` bytes.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pafs

URI_SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss", "file")
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SIMULATE_DISK_FULL_VAR = "CROSSMODAL_SIMULATE_DISK_FULL_AFTER_BYTES"


class NoSpaceLeftError(OSError):
    """The storage is full: the job stops (it is not a bad input); free space and run again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC


def no_space_message(location: str | Path) -> str:
    return f"no space left on device while writing {location}: free space and run again"


def is_disk_full(exc: BaseException) -> bool:
    """True for an ``OSError`` that says the device or the quota is full."""
    return isinstance(exc, OSError) and (
        exc.errno in NO_SPACE_ERRNOS or "No space left on device" in str(exc)
    )


def raise_if_disk_full(exc: BaseException, location: str | Path) -> None:
    """Raise :class:`NoSpaceLeftError` naming ``location`` when ``exc`` is a full disk."""
    if isinstance(exc, NoSpaceLeftError):
        raise exc
    if is_disk_full(exc):
        raise NoSpaceLeftError(no_space_message(location)) from exc


def disk_full_error_in(exc: BaseException) -> NoSpaceLeftError | None:
    """The full-disk error anywhere in ``exc``'s chain (causes, contexts, and the ``cause`` of
    Ray's task errors, which wrap what a task raised), as a plain :class:`NoSpaceLeftError`."""
    chain, todo = [], [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is s for s in chain):
            continue
        chain.append(current)
        todo += [getattr(current, "cause", None), current.__cause__, current.__context__]
    for current in chain:
        if type(current) is NoSpaceLeftError:
            return current
    for current in chain:  # a raw ENOSPC (Ray's wrapper classes carry no errno)
        if isinstance(current, OSError) and current.errno in NO_SPACE_ERRNOS:
            return NoSpaceLeftError(no_space_message(current.filename or "the output"))
    return None


@contextmanager
def reporting_disk_full(location: str | Path) -> Iterator[None]:
    """Writes inside the block that fail on a full disk raise :class:`NoSpaceLeftError`."""
    try:
        yield
    except OSError as exc:
        raise_if_disk_full(exc, location)
        raise


def is_uri(location: str | Path) -> bool:
    """True for ``scheme://...`` locations (object stores), False for local paths."""
    return "://" in str(location)


def normalize(location: str | Path) -> str:
    """A local path made absolute (``~`` expanded); a URI unchanged but for trailing slashes."""
    text = str(location)
    if is_uri(text):
        scheme, rest = text.split("://", 1)
        return f"{scheme}://{rest.rstrip('/')}" if rest.strip("/") else text
    return os.path.abspath(os.path.expanduser(text))


def join(base: str | Path, *parts: str) -> str:
    """``base/part/...`` for local paths and URIs alike (always ``/`` inside a URI)."""
    base_text = normalize(base)
    if is_uri(base_text):
        return posixpath.join(base_text, *[p.strip("/") for p in parts if p])
    return os.path.join(base_text, *parts)


def parent(location: str | Path) -> str:
    text = normalize(location)
    return text.rsplit("/", 1)[0] if is_uri(text) else os.path.dirname(text)


def name(location: str | Path) -> str:
    return normalize(location).rstrip("/").rsplit("/", 1)[-1]


def resolve(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``location`` and the path inside it (what pyarrow calls take)."""
    text = normalize(location)
    if is_uri(text):
        return pafs.FileSystem.from_uri(text)
    if os.environ.get(SIMULATE_DISK_FULL_VAR):
        from crossmodal_ray.pipelines.core.disk_full_simulation import disk_full_filesystem

        return disk_full_filesystem(int(os.environ[SIMULATE_DISK_FULL_VAR])), text
    return pafs.LocalFileSystem(), text


def with_scheme_of(reference: str | Path, filesystem_path: str) -> str:
    """A path inside ``reference``'s filesystem (what pyarrow and Ray Train report, e.g.
    ``bucket/runs/r/checkpoint_000``) as a location: ``s3://bucket/...`` when ``reference`` is
    an ``s3://`` URI, the path itself for local storage."""
    text = normalize(reference)
    if is_uri(text) and not is_uri(filesystem_path):
        return f"{text.split('://', 1)[0]}://{filesystem_path.lstrip('/')}"
    return filesystem_path


def filesystem(location: str | Path) -> pafs.FileSystem:
    return resolve(location)[0]


def _info(location: str | Path) -> pafs.FileInfo:
    fs, path = resolve(location)
    return fs.get_file_info(path)


def exists(location: str | Path) -> bool:
    """True when a file or a folder (a non-empty prefix on an object store) is there."""
    return _info(location).type != pafs.FileType.NotFound


def is_file(location: str | Path) -> bool:
    return _info(location).type == pafs.FileType.File


def is_dir(location: str | Path) -> bool:
    return _info(location).type == pafs.FileType.Directory


def makedirs(location: str | Path) -> None:
    """Create a folder and its parents (a no-op on object stores that have no folders)."""
    fs, path = resolve(location)
    fs.create_dir(path, recursive=True)


def read_bytes(location: str | Path) -> bytes:
    fs, path = resolve(location)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def read_text(location: str | Path) -> str:
    return read_bytes(location).decode("utf-8")


def write_bytes(location: str | Path, data: bytes) -> None:
    """Write ``data`` to ``location`` (parents created)."""
    fs, path = resolve(location)
    with reporting_disk_full(location):
        fs.create_dir(posixpath.dirname(path))
        with fs.open_output_stream(path) as stream:
            stream.write(data)


def write_text(location: str | Path, text: str) -> None:
    write_bytes(location, text.encode("utf-8"))


def write_text_atomic(location: str | Path, text: str) -> None:
    """Publish ``text`` at ``location`` all at once: temporary object, then move into place.

    Readers see the old content or the new one, never a partial file (``os.replace`` on a local
    disk; on S3/GCS the move is a server-side copy, which creates the target whole).
    """
    fs, path = resolve(location)
    directory, base = path.rsplit("/", 1)
    temporary = f"{directory}/.{base}.tmp-{uuid.uuid4().hex[:12]}"
    with reporting_disk_full(location):
        fs.create_dir(directory)
        with fs.open_output_stream(temporary) as stream:
            stream.write(text.encode("utf-8"))
            if isinstance(fs, pafs.LocalFileSystem):
                stream.flush()
    fs.move(temporary, path)


def delete_file(location: str | Path, missing_ok: bool = True) -> None:
    fs, path = resolve(location)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def delete_dir(location: str | Path, missing_ok: bool = True) -> None:
    """Delete a folder (every object under the prefix) and everything in it."""
    fs, path = resolve(location)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        if missing_ok:
            return
        raise FileNotFoundError(str(location))
    fs.delete_dir(path)


def list_dir(location: str | Path, recursive: bool = False) -> list[str]:
    """Locations of the files under a folder, sorted (``[]`` when it does not exist)."""
    fs, path = resolve(location)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
    infos = [i for i in fs.get_file_info(selector) if i.type == pafs.FileType.File]
    text = normalize(location)
    prefix = text[: len(text) - len(path)] if is_uri(text) else ""
    return sorted(prefix + info.path for info in infos)


def list_subdirs(location: str | Path) -> list[str]:
    """Names of the folders directly under ``location`` (``[]`` when it does not exist)."""
    fs, path = resolve(location)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
    return sorted(
        info.base_name
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.Directory
    )


def upload_dir(local_dir: str | Path, destination: str | Path) -> None:
    """Copy a local folder's files to ``destination`` (any storage), keeping relative paths."""
    fs, path = resolve(destination)
    pafs.copy_files(str(Path(local_dir).resolve()), path, destination_filesystem=fs)


def download_dir(source: str | Path, local_dir: str | Path) -> None:
    """Copy the files under ``source`` (any storage) into a local folder."""
    fs, path = resolve(source)
    Path(local_dir).mkdir(parents=True, exist_ok=True)
    pafs.copy_files(path, str(Path(local_dir).resolve()), source_filesystem=fs)


@contextmanager
def local_dir_for_writing(destination: str | Path) -> Iterator[Path]:
    """A local folder whose files end up in ``destination``.

    Locally it is ``destination`` itself; for a URI it is a temporary folder uploaded on exit.
    For writers that only speak local files (matplotlib, csv, TensorBoard).
    """
    if not is_uri(destination):
        path = Path(normalize(destination))
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crossmodal-upload-") as tmp:
        yield Path(tmp)
        upload_dir(tmp, destination)


@contextmanager
def local_dir_for_reading(source: str | Path) -> Iterator[Path]:
    """A local folder holding the files under ``source`` (downloaded first for a URI)."""
    if not is_uri(source):
        yield Path(normalize(source))
        return
    import tempfile

    tmp = tempfile.mkdtemp(prefix="crossmodal-download-")
    try:
        download_dir(source, tmp)
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
