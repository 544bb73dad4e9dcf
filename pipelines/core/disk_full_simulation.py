"""A full disk, simulated for tests: ``CROSSMODAL_SIMULATE_DISK_FULL_AFTER_BYTES=<n>``.

With the variable set, :func:`crossmodal_ray.pipelines.core.storage.resolve` gives local paths
this filesystem: the local one, except that writes fail with ``OSError(ENOSPC)`` once this
process has written ``n`` bytes through it, as a full disk fails them. The ingest's handling of
a full disk (a clear error, no manifest, a re-run that succeeds) is tested through it.
"""

from __future__ import annotations

import errno
import os

import pyarrow.fs as pafs

_simulated_bytes_written = 0  # by this process, through the simulated filesystem


def disk_full_filesystem(capacity: int) -> pafs.FileSystem:
    """The local filesystem, but writes fail with ``ENOSPC`` after ``capacity`` bytes."""
    return pafs.PyFileSystem(_DiskFullHandler(capacity))


class _CappedFile:
    """A local file opened for writing whose writes fail once the process's capacity is used."""

    def __init__(self, path: str, capacity: int, append: bool = False) -> None:
        self.path = path
        self.capacity = capacity
        self.handle = open(path, "ab" if append else "wb")  # noqa: SIM115 - closed by close()

    @property
    def closed(self) -> bool:
        return self.handle.closed

    def write(self, data: bytes) -> int:
        global _simulated_bytes_written
        if _simulated_bytes_written + len(data) > self.capacity:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
        _simulated_bytes_written += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


class _DiskFullHandler(pafs.FileSystemHandler):
    """``pyarrow.fs.PyFileSystem`` handler: local files, writes capped by :class:`_CappedFile`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.local = pafs.LocalFileSystem()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DiskFullHandler) and other.capacity == self.capacity

    def __hash__(self) -> int:
        return hash(self.capacity)

    def get_type_name(self) -> str:
        return "disk-full-simulation"

    def normalize_path(self, path: str) -> str:
        return self.local.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("refusing to delete the root folder's contents")

    def delete_file(self, path: str) -> None:
        self.local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.local.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.local.copy_file(src, dest)

    def open_input_stream(self, path: str):
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str):
        return self.local.open_input_file(path)

    def open_output_stream(self, path: str, metadata):
        import pyarrow as pa

        return pa.PythonFile(_CappedFile(path, self.capacity), mode="w")

    def open_append_stream(self, path: str, metadata):
        import pyarrow as pa

        return pa.PythonFile(_CappedFile(path, self.capacity, append=True), mode="w")
