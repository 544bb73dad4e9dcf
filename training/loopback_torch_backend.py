"""Torch process-group setup for single-node runs that opens no socket beyond loopback.

Ray Train's default rendezvous (``init_process_group("env://")``) starts a c10d TCPStore on
rank 0, and PyTorch binds that store to every interface, whatever MASTER_ADDR says. On one
machine (the local demo, the tests, a laptop) the project keeps everything on 127.0.0.1, so
when all workers share a node and use gloo, the rendezvous goes through a ``FileStore`` (a
file, no socket) and gloo's own connections are pinned to the loopback interface
(``GLOO_SOCKET_IFNAME=lo``). Multi-node and NCCL runs keep Ray Train's default setup.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import timedelta

import ray
import torch.distributed as dist
from ray.train.torch import TorchConfig
from ray.train.torch.config import _set_torch_distributed_env_vars, _TorchBackend

LOOPBACK_INTERFACE = "lo"


def _init_gloo_with_file_store(path: str, world_rank: int, world_size: int, timeout_s: int) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = LOOPBACK_INTERFACE
    store = dist.FileStore(path, world_size)
    dist.init_process_group(
        "gloo", store=store, rank=world_rank, world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )  # fmt: skip


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


class _LoopbackTorchBackend(_TorchBackend):
    def on_start(self, worker_group, backend_config: TorchConfig) -> None:
        nodes = {worker_group.execute_single(i, _node_id) for i in range(len(worker_group))}
        resources = worker_group.get_resources_per_worker()
        if (
            len(nodes) != 1
            or resources.get("GPU", 0) > 0
            or backend_config.backend
            not in (
                None,
                "gloo",
            )
        ):
            super().on_start(worker_group, backend_config)
            return
        path = os.path.join(tempfile.gettempdir(), f"ray_train_store_{uuid.uuid4().hex}")
        world_size = len(worker_group)
        worker_group.execute(_set_torch_distributed_env_vars)  # RANK, LOCAL_RANK, ...
        ray.get(
            [
                worker_group.execute_single_async(
                    rank, _init_gloo_with_file_store, path=path, world_rank=rank,
                    world_size=world_size, timeout_s=backend_config.timeout_s,
                )
                for rank in range(world_size)
            ]
        )  # fmt: skip


class LoopbackTorchConfig(TorchConfig):
    """``TorchConfig`` whose single-node gloo rendezvous listens on no external interface."""

    @property
    def backend_cls(self):
        return _LoopbackTorchBackend
