"""Contrastive objectives. A loss takes features (and a temperature) and never sees a model."""

from crossmodal_ray.models.losses.contrastive_loss_config import ContrastiveLossConfig
from crossmodal_ray.models.losses.info_nce import info_nce, local_global_info_nce
from crossmodal_ray.models.losses.memory_queue import CrossModalMemoryQueue
from crossmodal_ray.models.losses.multi_group_contrastive import MultiGroupContrastiveLoss
from crossmodal_ray.models.losses.queued_info_nce import queued_local_global_info_nce
from crossmodal_ray.models.losses.soft_targets import (
    SoftTargets,
    TargetProvider,
    local_global_soft_info_nce,
    soft_info_nce,
)
from crossmodal_ray.models.losses.tiled_info_nce import tiled_info_nce, tiled_local_global_info_nce
from crossmodal_ray.models.losses.tiled_soft_info_nce import (
    tiled_local_global_soft_info_nce,
    tiled_soft_info_nce,
)

__all__ = [
    "ContrastiveLossConfig",
    "CrossModalMemoryQueue",
    "MultiGroupContrastiveLoss",
    "SoftTargets",
    "TargetProvider",
    "info_nce",
    "local_global_info_nce",
    "local_global_soft_info_nce",
    "queued_local_global_info_nce",
    "soft_info_nce",
    "tiled_info_nce",
    "tiled_local_global_info_nce",
    "tiled_local_global_soft_info_nce",
    "tiled_soft_info_nce",
]
