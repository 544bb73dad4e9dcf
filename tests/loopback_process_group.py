"""A real multi-process gloo group for tests that opens no socket beyond loopback.

``init_process_group("env://")`` starts a c10d TCPStore that PyTorch binds to every interface,
and gloo picks the interface of the machine's hostname; tests must stay on 127.0.0.1. So the
rendezvous goes through a file (``FileStore``) and gloo is pinned to the loopback interface.

Teardown order matters: a DDP ``Reducer`` that outlives ``destroy_process_group`` makes the
process abort at exit now and then ("terminate called without an active exception", SIGABRT;
about 1 run in 10 on a 2-core machine). ``run_in_loopback_group`` therefore runs the rank's body
in its own frame, collects its garbage, and only then destroys the group.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable
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


def run_in_loopback_group(
    rank: int, world_size: int, store_path: str, body: Callable[..., None], *args: object
) -> None:
    """Join the group, run ``body(rank, *args)``, free what it built, then leave the group."""
    init_loopback_gloo(rank, world_size, store_path)
    try:
        body(rank, *args)
    finally:
        gc.collect()  # DDP modules (and their reducers) die before the group does
        dist.destroy_process_group()
