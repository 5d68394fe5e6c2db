"""Codec pretraining and fine-tuning with skorch."""

from .checkpoint import ResumableCheckpoint, latest_checkpoint
from .net import BioCodecNet
from .pretrain import check_segments, pretrain_codec
from .recipe import train_from_recipe
from .schedule import WarmupCosine, warmup_cosine_factor

__all__ = ["BioCodecNet", "pretrain_codec", "train_from_recipe", "check_segments", "ResumableCheckpoint",
           "latest_checkpoint", "WarmupCosine", "warmup_cosine_factor"]
