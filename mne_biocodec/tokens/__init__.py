"""Codec tokens: the one path from signals to codes and back, the cache and token files.

Layers, each importing only the ones above it:

- :mod:`~mne_biocodec.tokens.engine`: :class:`TokenSet` and the batched encode/decode that
  every caller uses (batching, device, dtypes);
- :mod:`~mne_biocodec.tokens.cache`: the token cache over the engine (codes on disk and in
  memory, decoder outputs in memory);
- :mod:`~mne_biocodec.tokens.arrays`: :func:`tokenize` / :func:`detokenize` of epochs
  (signal preparation from :mod:`mne_biocodec.preprocessing` + cache + engine);
- :mod:`~mne_biocodec.tokens.schema`: the token files' metadata schema and its validation;
- :mod:`~mne_biocodec.tokens.files`: the ``.bctok`` token-file format (build, write, read);
- :mod:`~mne_biocodec.tokens.recording`: recordings (``mne.io.Raw``) to tokens and token
  files and back, streaming long recordings through the engine.
"""

from ..preprocessing import prepare_signals
from .arrays import detokenize, tokenize
from .cache import (cached_decode_batches, cached_encode, clear_memory_cache,
                    memory_cache_info, resolve_cache)
from .engine import (TokenSet, auto_batch_size, codec_sha256, codes_dtype, decode, encode,
                     encode_stream)
from .files import (make_token_metadata, metadata_annotations, raw_metadata, read_tokens,
                    write_tokens)
from .schema import (FORMAT_NAME, FORMAT_VERSION, READ_VERSIONS, TOKEN_SUFFIX,
                     check_token_metadata)
from .recording import (DEFAULT_CHUNK_SECONDS, STREAM_ABOVE_SECONDS, decode_to_raw,
                        encode_raw, encode_to_file, stream_tokenize)

__all__ = ["TokenSet", "tokenize", "detokenize", "prepare_signals", "encode", "decode",
           "encode_stream", "auto_batch_size", "codes_dtype", "codec_sha256",
           "cached_encode", "cached_decode_batches", "resolve_cache", "clear_memory_cache",
           "memory_cache_info",
           "read_tokens", "write_tokens", "make_token_metadata", "raw_metadata",
           "check_token_metadata", "metadata_annotations", "FORMAT_NAME", "FORMAT_VERSION",
           "READ_VERSIONS", "TOKEN_SUFFIX",
           "encode_raw", "encode_to_file", "decode_to_raw", "stream_tokenize",
           "DEFAULT_CHUNK_SECONDS", "STREAM_ABOVE_SECONDS"]
