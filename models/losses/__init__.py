"""Contrastive objectives. A loss takes features (and a temperature) and never sees a model."""

from models.losses.info_nce import info_nce, local_global_info_nce
from models.losses.multi_group_contrastive import MultiGroupContrastiveLoss

__all__ = ["MultiGroupContrastiveLoss", "info_nce", "local_global_info_nce"]
