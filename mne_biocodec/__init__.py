"""mne-biocodec: neural-codec tokens for EEG and EMG in the MNE / scikit-learn ecosystem."""

from ._version import __version__
from .codec import BioCodec, load_codec, save_codec
from .estimators import BioCodecClassifier, BioCodecTokenizer
from .pretrained import list_pretrained
from .tokenfile import read_tokens, write_tokens
from .tokens import TokenSet, detokenize, tokenize

__all__ = ["__version__", "BioCodec", "load_codec", "save_codec", "list_pretrained",
           "BioCodecTokenizer", "BioCodecClassifier", "TokenSet", "tokenize", "detokenize", "read_tokens", "write_tokens"]
