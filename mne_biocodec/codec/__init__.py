"""The BioCodec neural codec (torch only: no sklearn, skorch or MNE imports)."""

from .files import atomic_write, file_sha256, is_sha256, save_codec
from .io import convert_checkpoint, load_codec, read_codec_config
from .losses import CodecLoss, MultiScaleSTFTLoss, spectral_maps
from .metrics import reconstruction_metrics, pearson_r, si_sdr, prd, nmse
from .model import (BioCodec, EEG_CONFIG, EMG_CONFIG, MAX_CODEC_SIZE, check_codec_config,
                    codec_state_size, default_device)
from .quantization import ResidualVectorQuantizer, VectorQuantization, CosineCodebook
from .seanet import SEANetDecoder, SEANetEncoder

__all__ = [
    "BioCodec", "EEG_CONFIG", "EMG_CONFIG", "MAX_CODEC_SIZE", "check_codec_config",
    "codec_state_size", "default_device",
    "SEANetEncoder", "SEANetDecoder",
    "ResidualVectorQuantizer", "VectorQuantization", "CosineCodebook",
    "CodecLoss", "MultiScaleSTFTLoss", "spectral_maps",
    "reconstruction_metrics", "pearson_r", "si_sdr", "prd", "nmse",
    "load_codec", "save_codec", "convert_checkpoint", "read_codec_config", "file_sha256",
    "is_sha256", "atomic_write",
]
