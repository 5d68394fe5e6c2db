"""Codec pretraining and fine-tuning: one loop, in one process or data-parallel (torchrun)."""

from .checkpoint import latest_checkpoint
from .pretrain import TrainingResult, check_segments, pretrain_codec
from .recipe import train_from_recipe
from .schedule import WarmupCosine, warmup_cosine_factor
from .settings import TrainingRecipe

__all__ = ["pretrain_codec", "TrainingRecipe", "TrainingResult", "train_from_recipe",
           "check_segments", "latest_checkpoint", "WarmupCosine", "warmup_cosine_factor"]
