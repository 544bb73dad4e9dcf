"""SyncTalkNet (Wuerkaixi, Zhang, Duan, Zhang, MLSP 2022): TalkNet-style active speaker detection
(Tao et al., ACM MM 2021) with a positional encoding on both inputs of every attention layer and
contrastive track exchange, so that a face is not called speaking when its audio is out of sync."""

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.model import SyncTalkNet

__all__ = ["SyncTalkNet", "SyncTalkNetConfig"]
