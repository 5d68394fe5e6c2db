"""scikit-learn estimators built on codec tokens."""

from .classifier import BioCodecClassifier
from .features import token_feature_names, token_features
from .head import TokenTransformerHead
from .tokenizer import BioCodecTokenizer

__all__ = ["BioCodecTokenizer", "BioCodecClassifier", "TokenTransformerHead",
           "token_features", "token_feature_names"]
