"""mne-biocodec: neural-codec tokens for EEG and EMG in the MNE / scikit-learn ecosystem."""

from ._version import __version__
from .codec import BioCodec, load_codec, save_codec
from .estimators import BioCodecClassifier, BioCodecTokenizer
from .pretrained import list_pretrained
from .tokens import (TokenSet, decode_to_raw, detokenize, encode_raw, encode_to_file,
                     read_tokens, tokenize, write_tokens)
from .tokenmodel import BioCodecTokenModel, annotate_unlikely, forecast, load_token_model

__all__ = ["__version__", "BioCodec", "load_codec", "save_codec", "list_pretrained",
           "BioCodecTokenizer", "BioCodecClassifier", "TokenSet", "tokenize", "detokenize",
           "read_tokens", "write_tokens", "encode_raw", "encode_to_file", "decode_to_raw",
           "BioCodecTokenModel", "load_token_model", "annotate_unlikely", "forecast"]
