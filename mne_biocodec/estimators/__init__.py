"""scikit-learn estimators built on codec tokens."""

from .classifier import BioCodecClassifier
from .features import (BAND_POWER_BANDS, EMG_BAND_POWER_BANDS, signal_band_power,
                       token_band_power, token_feature_names, token_features)
from .head import TokenTransformerHead
from .tokenizer import BioCodecTokenizer

__all__ = ["BioCodecTokenizer", "BioCodecClassifier", "TokenTransformerHead",
           "token_features", "token_feature_names", "token_band_power", "signal_band_power",
           "BAND_POWER_BANDS", "EMG_BAND_POWER_BANDS"]
