"""A real multi-process gloo group for tests that opens no socket beyond loopback.

``init_process_group("env://")`` starts a c10d TCPStore that PyTorch binds to every interface,
and gloo picks the interface of the machine's hostname; tests must stay on 127.0.0.1. So the
rendezvous goes through a file (``FileStore``) and gloo is pinned to the loopback interface.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist


def new_store_path(directory: str | Path) -> str:
    """A fresh rendezvous file for one process group (pass it to every rank)."""
    return str(Path(directory) / f"store_{uuid.uuid4().hex}")


def init_loopback_gloo(rank: int, world_size: int, store_path: str, timeout_s: int = 60) -> None:
    """Join a gloo group of ``world_size`` processes on loopback; one thread per process."""
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        store=dist.FileStore(store_path, world_size),
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )
