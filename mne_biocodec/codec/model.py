"""The BioCodec model: SEANet encoder, residual vector quantizer, SEANet decoder."""

import copy
import hashlib
import math
import numbers

import torch
from torch import nn

from .files import save_codec
from .quantization import ResidualVectorQuantizer
from .seanet import SEANetDecoder, SEANetEncoder

__all__ = ["BioCodec", "EEG_CONFIG", "EMG_CONFIG", "MAX_CODEC_SIZE", "check_codec_config",
           "codec_state_size", "default_device"]

#: The reference EEG codec (klean2050/BioCodec-release, ``configs/eeg_config.yaml``).
EEG_CONFIG = {
    "name": "biocodec-eeg",
    "modality": "eeg",
    "sample_rate": 250,
    "ratios": [3, 2, 2],
    "n_q": 6,
    "bins": 256,
    "codebook_dim": 16,
    "dimension": 128,
    "n_filters": 32,
    "n_residual_layers": 2,
    "lstm": 2,
    "kernel_size": 3,
    "last_kernel_size": 3,
    "residual_kernel_size": 3,
    "dilation_base": 2,
    "causal": True,
    "norm": "weight_norm",
    "pad_mode": "reflect",
    "true_skip": True,
    "compress": 1,
    "normalize": False,
    "decay": 0.99,
    "epsilon": 1e-5,
    "kmeans_init": True,
    "kmeans_iters": 50,
    "threshold_ema_dead_code": 2,
    "commitment_weight": 0.25,
    "quantizer_dropout": 0.0,
}

#: The reference EMG codec: 1 kHz, 18 samples per frame.
EMG_CONFIG = dict(EEG_CONFIG, name="biocodec-emg", modality="emg", sample_rate=1000,
                  ratios=[3, 3, 2])

_ENCODER_KEYS = ("dimension", "n_filters", "n_residual_layers", "ratios", "kernel_size",
                 "last_kernel_size", "residual_kernel_size", "dilation_base", "causal",
                 "norm", "pad_mode", "true_skip", "compress", "lstm")
_QUANTIZER_KEYS = ("n_q", "bins", "codebook_dim", "decay", "epsilon", "kmeans_init",
                   "kmeans_iters", "threshold_ema_dead_code", "commitment_weight",
                   "quantizer_dropout")

#: Most values (parameters and buffers) a codec config may ask for: 30 times the reference
#: codec's 3.2 million, so that a config read from a file cannot make the constructor
#: allocate gigabytes.
MAX_CODEC_SIZE = 100_000_000

# Bounds far outside anything trained so far (the reference codecs use n_q 6, 256 bins,
# 32 filters, 3 ratios) that still keep the model, its padding and its k-means bounded.
_INT_BOUNDS = {
    "n_q": (1, 64), "bins": (2, 65536), "dimension": (1, 4096), "n_filters": (1, 1024),
    "n_residual_layers": (0, 16), "lstm": (0, 8), "kernel_size": (1, 64),
    "last_kernel_size": (1, 64), "residual_kernel_size": (1, 64), "dilation_base": (1, 16),
    "compress": (1, 1024), "kmeans_iters": (0, 10000),
}
# (low, high, low included): sample rates of biosignals stay well under a megahertz.
_REAL_BOUNDS = {
    "sample_rate": (0.0, 1e6, False), "decay": (0.0, 1.0, True), "epsilon": (0.0, 1.0, False),
    "threshold_ema_dead_code": (0.0, 1e9, True), "commitment_weight": (0.0, 1e6, True),
    "quantizer_dropout": (0.0, 1.0, True),
}
_BOOL_KEYS = ("causal", "true_skip", "normalize", "kmeans_init")
_CHOICES = {
    "modality": ("eeg", "emg"),
    "norm": ("weight_norm", "none", None),
    "pad_mode": ("reflect", "replicate", "circular", "constant", "zero", "zeros"),
}
_MAX_RATIOS = 8
_MAX_HOP_LENGTH = 65536
_MAX_DILATED_KERNEL = 4096


def _short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad_value(key, expected, value):
    return ValueError(
        f"config[{key!r}] must be {expected}; got {_short_repr(value)} "
        f"({type(value).__name__}). Fix the codec config (the reference EEG value is "
        f"{EEG_CONFIG[key]!r})."
    )


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(key, value, low, high):
    if not _is_int(value) or not low <= value <= high:
        raise _bad_value(key, f"an int in [{low}, {high}]", value)
    return int(value)


def check_codec_config(config):
    """Validate a codec config and complete it with the reference EEG values.

    Every key is checked for its type and a range far wider than any trained codec needs,
    and the size of the model it describes (:func:`codec_state_size`) is bounded by
    :data:`MAX_CODEC_SIZE`, all without building anything: a config read from a file can
    neither crash the constructor nor make it allocate gigabytes. :class:`BioCodec` calls it.

    Parameters
    ----------
    config : dict | None
        Codec config; missing keys take the values of :data:`EEG_CONFIG`.

    Returns
    -------
    config : dict
        A new, complete config (``ratios`` as a list of int).

    Raises
    ------
    TypeError
        If ``config`` is not a dict.
    ValueError
        If a key is unknown, a value has the wrong type or lies out of range, or the model
        would exceed :data:`MAX_CODEC_SIZE` values.
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(
            f"config must be a dict of codec settings or None; got {type(config).__name__}. "
            "Pass e.g. dict(EEG_CONFIG, n_q=4)."
        )
    unknown = set(config) - set(EEG_CONFIG)
    if unknown:
        names = sorted(_short_repr(key) for key in unknown)
        raise ValueError(
            f"Unknown codec config keys [{', '.join(names[:10])}"
            f"{f', and {len(names) - 10} more' if len(names) > 10 else ''}]. Remove or "
            f"rename them; valid keys are {sorted(EEG_CONFIG)}."
        )
    cfg = dict(copy.deepcopy(EEG_CONFIG), **copy.deepcopy(config))
    for key, (low, high) in _INT_BOUNDS.items():
        cfg[key] = _check_int(key, cfg[key], low, high)
    for key, (low, high, low_included) in _REAL_BOUNDS.items():
        value = cfg[key]
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(value) or not low <= value <= high
                or (value == low and not low_included)):
            interval = f"{'[' if low_included else '('}{low:g}, {high:g}]"
            raise _bad_value(key, f"a finite number in {interval}", value)
        if not isinstance(value, (int, float)):  # numpy scalars: keep the config JSON-ready
            cfg[key] = float(value)
    for key in _BOOL_KEYS:
        if not isinstance(cfg[key], bool):
            raise _bad_value(key, "true or false", cfg[key])
    for key, choices in _CHOICES.items():
        if not isinstance(cfg[key], (str, type(None))) or cfg[key] not in choices:
            raise _bad_value(key, f"one of {list(choices)}", cfg[key])
    if not isinstance(cfg["name"], str) or len(cfg["name"]) > 200:
        raise _bad_value("name", "a string of at most 200 characters", cfg["name"])
    if cfg["codebook_dim"] is not None:
        cfg["codebook_dim"] = _check_int("codebook_dim", cfg["codebook_dim"], 1, 4096)
    ratios = cfg["ratios"]
    if (not isinstance(ratios, (list, tuple)) or not 1 <= len(ratios) <= _MAX_RATIOS
            or not all(_is_int(r) and 1 <= r <= 64 for r in ratios)):
        raise _bad_value("ratios", f"a list of 1 to {_MAX_RATIOS} ints in [1, 64]", ratios)
    cfg["ratios"] = [int(r) for r in ratios]
    if math.prod(cfg["ratios"]) > _MAX_HOP_LENGTH:
        raise _bad_value("ratios", f"ints whose product (the hop length) is at most "
                         f"{_MAX_HOP_LENGTH}", ratios)
    if cfg["compress"] > cfg["n_filters"]:
        raise ValueError(
            f"config['compress'] ({cfg['compress']}) must not exceed config['n_filters'] "
            f"({cfg['n_filters']}): residual blocks keep n_filters // compress channels. "
            "Lower compress."
        )
    dilated = ((cfg["residual_kernel_size"] - 1)
               * cfg["dilation_base"] ** max(cfg["n_residual_layers"] - 1, 0) + 1)
    if dilated > _MAX_DILATED_KERNEL:
        raise ValueError(
            f"The last residual convolution spans {dilated} samples (residual_kernel_size "
            f"{cfg['residual_kernel_size']}, dilation_base {cfg['dilation_base']}, "
            f"n_residual_layers {cfg['n_residual_layers']}); at most "
            f"{_MAX_DILATED_KERNEL} are allowed. Lower one of them."
        )
    size = codec_state_size(cfg)
    if size > MAX_CODEC_SIZE:
        raise ValueError(
            f"This codec config describes a model of {size:,} values (parameters and "
            f"buffers); at most {MAX_CODEC_SIZE:,} are allowed (the reference codec has "
            f"{codec_state_size(EEG_CONFIG):,}). Lower n_filters, dimension, lstm, n_q or "
            "bins, or use fewer ratios."
        )
    return cfg


def _conv_size(in_chs, out_chs, kernel, weight_norm, transposed=False):
    # weight_norm keeps a magnitude per row of dim 0: out_chs for Conv1d, in_chs for
    # ConvTranspose1d (whose weight is [in, out, kernel]).
    magnitudes = (in_chs if transposed else out_chs) if weight_norm else 0
    return in_chs * out_chs * kernel + out_chs + magnitudes


def _residual_stage_size(dim, cfg, weight_norm):
    hidden = dim // cfg["compress"]
    block = (_conv_size(dim, hidden, cfg["residual_kernel_size"], weight_norm)
             + _conv_size(hidden, dim, 1, weight_norm))
    if not cfg["true_skip"]:
        block += _conv_size(dim, dim, 1, weight_norm)
    return cfg["n_residual_layers"] * block


def codec_state_size(config):
    """Number of values in the state dict of ``BioCodec(config)``, computed without building it.

    Parameters
    ----------
    config : dict
        A complete codec config whose values have the right types (e.g. one returned by
        :func:`check_codec_config`, or :data:`EEG_CONFIG`).

    Returns
    -------
    size : int
        Parameters plus buffers (the weight-norm magnitudes and directions, biases, LSTM
        weights, projections and codebook statistics).
    """
    cfg = config
    wn = cfg["norm"] == "weight_norm"
    nf, dim, n_stages = cfg["n_filters"], cfg["dimension"], len(cfg["ratios"])
    top = nf * 2 ** n_stages
    lstm = cfg["lstm"] * 8 * top * (top + 1)  # per layer: 4 gates x (w_ih, w_hh, b_ih, b_hh)
    encoder = _conv_size(1, nf, cfg["kernel_size"], wn) + lstm
    encoder += _conv_size(top, dim, cfg["last_kernel_size"], wn)
    decoder = _conv_size(dim, top, cfg["kernel_size"], wn) + lstm
    decoder += _conv_size(nf, 1, cfg["last_kernel_size"], wn)
    for stage, ratio in enumerate(reversed(cfg["ratios"])):
        # Stage s works at nf * 2**s channels with the ratios taken from the end; the
        # encoder widens it to twice that, the decoder narrows back.
        small = nf * 2 ** stage
        encoder += _residual_stage_size(small, cfg, wn)
        encoder += _conv_size(small, 2 * small, 2 * ratio, wn)
        decoder += _conv_size(2 * small, small, 2 * ratio, wn, transposed=True)
        decoder += _residual_stage_size(small, cfg, wn)
    code_dim = cfg["codebook_dim"] or dim
    layer = 1 + cfg["bins"] * (1 + 2 * code_dim)  # inited, cluster_size, embed, embed_avg
    if code_dim != dim:
        layer += 2 * dim * code_dim + code_dim + dim  # project_in and project_out
    return encoder + decoder + cfg["n_q"] * layer


def default_device(device=None):
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"``."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class BioCodec(nn.Module):
    """Neural codec that turns single-channel biosignals into discrete tokens.

    Parameters
    ----------
    config : dict | None
        Architecture and quantizer settings; missing keys take the values of
        :data:`EEG_CONFIG` (the reference EEG codec: 250 Hz, ratios 3, 2, 2, 6 x 256 codes).

    Attributes
    ----------
    config : dict
        The complete configuration (saved with the weights), checked by
        :func:`check_codec_config`.
    weights_file : Path | None
        The safetensors file the weights were read from (set by
        :func:`mne_biocodec.codec.load_codec`; None for a codec built in memory).
    source : str | path-like | None
        What was passed to :func:`mne_biocodec.codec.load_codec`: a shipped codec's name, a
        file or a folder (None for a codec built in memory). With :attr:`weights_file` and
        :meth:`weights_sha256` it says which weights the codec holds.
    encoder : SEANetEncoder
    quantizer : ResidualVectorQuantizer
    decoder : SEANetDecoder

    Notes
    -----
    Shapes: signals ``[B, 1, n_times]`` at :attr:`sample_rate`; latents
    ``[B, dimension, n_frames]``; codes ``[B, n_q, n_frames]`` with
    ``n_frames = ceil(n_times / hop_length)``; decoded signals
    ``[B, 1, n_frames * hop_length]``.

    With ``config["normalize"] = True`` (EnCodec's per-segment RMS scaling, off in the
    reference EEG codec) the encoder sees ``x / scale`` and the decoder output is multiplied
    by ``scale``; use :meth:`encode_with_scale` to keep it.

    References
    ----------
    .. [1] Avramidis et al. (2025). Neural Codecs as Biosignal Tokenizers. arXiv:2510.09095.
    .. [2] Défossez et al. (2022). High Fidelity Neural Audio Compression. arXiv:2210.13438.
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = check_codec_config(config)
        self.weights_file = None
        self.source = None
        cfg = self.config
        arch = {k: cfg[k] for k in _ENCODER_KEYS}
        self.encoder = SEANetEncoder(channels=1, **arch)
        self.decoder = SEANetDecoder(channels=1, **arch)
        self.quantizer = ResidualVectorQuantizer(
            dimension=cfg["dimension"], **{k: cfg[k] for k in _QUANTIZER_KEYS})

    # Weight-norm parametrisations cannot be pickled; rebuild from config + state dict, which
    # also keeps deepcopy, sklearn.clone of fitted pipelines and joblib workers working.
    def __reduce__(self):
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        return _rebuild_codec, (self.config, state, self.training, str(self.device),
                                self.weights_file, self.source)

    def weights_sha256(self):
        """SHA-256 of the codec's weights, independent of how they were stored.

        The digest covers every entry of ``state_dict()`` in key order: its name, dtype,
        shape and raw bytes. A codec loaded from a file and the same codec re-saved (with
        other metadata, under another name) have the same digest; codecs that differ in any
        weight or buffer do not. Token files record it to refuse decoding with another codec,
        and the token cache keys its entries with it.

        Returns
        -------
        sha256 : str
            64 hex digits.
        """
        digest = hashlib.sha256()
        state = self.state_dict()
        for key in sorted(state):
            tensor = state[key].detach().cpu().contiguous()
            digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def save(self, path, extra_metadata=None):
        """Write the weights (safetensors, config in its metadata) and a JSON config beside.

        Both files are written atomically; see :func:`mne_biocodec.codec.save_codec`.

        Parameters
        ----------
        path : path-like
            Output file (``.safetensors`` appended when missing).
        extra_metadata : dict | None
            JSON-serialisable information stored with the config.

        Returns
        -------
        path : Path
            The safetensors file written.
        """
        return save_codec(self, path, extra_metadata=extra_metadata)

    # -- properties ---------------------------------------------------------------------
    @property
    def sample_rate(self):
        """Sampling rate the codec works at, in Hz."""
        return float(self.config["sample_rate"])

    @property
    def modality(self):
        """Signal type the codec was trained on: ``"eeg"`` or ``"emg"``."""
        return self.config["modality"]

    @property
    def hop_length(self):
        """Samples per token frame."""
        return self.encoder.hop_length

    @property
    def frame_rate(self):
        """Token frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def n_q(self):
        """Number of codebooks."""
        return self.quantizer.n_q

    @property
    def codebook_size(self):
        """Codes per codebook."""
        return self.quantizer.bins

    def codebook_vectors(self, n_q=None):
        """Code vectors of the first ``n_q`` codebooks, in the codebook space.

        Parameters
        ----------
        n_q : int | None
            Codebooks to return (all when None).

        Returns
        -------
        vectors : Tensor, shape [n_q, codebook_size, codebook_dim]
            Detached copy on :attr:`device`; ``vectors[q, k]`` is what code ``k`` of
            codebook ``q`` stands for (before the layer's output projection).
        """
        return self.quantizer.codebook_vectors(n_q)

    @property
    def device(self):
        return next(self.parameters()).device

    def n_frames(self, n_times):
        """Token frames produced by ``n_times`` samples."""
        return math.ceil(n_times / self.hop_length)

    # -- checks -------------------------------------------------------------------------
    def _check_signal(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"x must be a torch.Tensor [batch, 1, n_times]; got {type(x).__name__}. "
                "Use torch.as_tensor(x, dtype=torch.float32)."
            )
        if not torch.is_floating_point(x):
            raise ValueError(
                f"x must be a floating-point tensor; got dtype {x.dtype}. Use x.float()."
            )
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(
                f"x must have shape [batch, 1, n_times] (one channel per row); got "
                f"{tuple(x.shape)}. Reshape multichannel data with "
                "x.reshape(-1, 1, n_times)."
            )
        if x.shape[-1] < self.hop_length:
            raise ValueError(
                f"x has {x.shape[-1]} samples but one token frame needs at least "
                f"{self.hop_length} samples at {self.sample_rate:g} Hz. Use longer signals."
            )
        if not torch.isfinite(x).all():
            raise ValueError(
                "x contains NaN or infinite values. Clean or interpolate the signal first."
            )
        return x

    # -- encode / decode ----------------------------------------------------------------
    def _scale(self, x):
        if not self.config["normalize"]:
            return None
        volume = x.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt()
        return torch.clamp(volume, min=1e-8).view(-1, 1)

    def _encode_latent(self, x):
        """Checked signals ``[B, 1, n_times]`` -> (latents ``[B, D, n_frames]``, scale)."""
        self._check_signal(x)
        scale = self._scale(x)
        return self.encoder(x / scale.view(-1, 1, 1) if scale is not None else x), scale

    def encode_with_scale(self, x, n_q=None):
        """Encode signals and return the scale the decoder needs.

        Parameters
        ----------
        x : Tensor, shape [B, 1, n_times]
            Signals at :attr:`sample_rate`, normalised as the codec expects.
        n_q : int | None
            Number of codebooks (all when None).

        Returns
        -------
        codes : Tensor of int64, shape [B, n_q, n_frames]
            Codebook 0 first.
        scale : Tensor, shape [B, 1] | None
            Per-segment RMS when ``config["normalize"]`` is True, else None.
        """
        latent, scale = self._encode_latent(x)
        return self.quantizer.encode(latent, n_q=n_q), scale

    def encode(self, x, n_q=None):
        """Encode signals into codes.

        Parameters
        ----------
        x : Tensor, shape [B, 1, n_times]
            Signals at :attr:`sample_rate`, normalised as the codec expects.
        n_q : int | None
            Number of codebooks (all when None).

        Returns
        -------
        codes : Tensor of int64, shape [B, n_q, n_frames]
            Codebook 0 first. With RMS normalisation on, use :meth:`encode_with_scale` to
            also get the scale.
        """
        return self.encode_with_scale(x, n_q=n_q)[0]

    def quantize_straight_through(self, x, n_q=None):
        """Encode signals into summed code vectors that pass gradients to the encoder.

        For fine-tuning the encoder on a downstream loss: the codes are those of
        :meth:`encode` and the codebooks stay fixed (in training mode too), while the
        gradient of the output flows, straight through the code choice, into the encoder and
        the quantizer's input projections. See
        :meth:`~mne_biocodec.codec.ResidualVectorQuantizer.quantize_straight_through`.

        Parameters
        ----------
        x : Tensor, shape [B, 1, n_times]
            Signals at :attr:`sample_rate`, normalised as the codec expects.
        n_q : int | None
            Number of codebooks (all when None).

        Returns
        -------
        vectors : Tensor, shape [B, n_frames, codebook_dim]
            Sum over the first ``n_q`` codebooks of the code vectors in codebook space (the
            rows of :meth:`codebook_vectors`), with straight-through gradients.
        codes : Tensor of int64, shape [B, n_q, n_frames]
            The codes picked, codebook 0 first.
        """
        latent, _ = self._encode_latent(x)
        return self.quantizer.quantize_straight_through(latent, n_q=n_q)

    def decode(self, codes, scale=None):
        """Decode codes into signals.

        Parameters
        ----------
        codes : Tensor of int, shape [B, K, n_frames]
            Codes of the first ``K <= n_q`` codebooks.
        scale : Tensor, shape [B, 1] | None
            Scale returned by :meth:`encode_with_scale` (RMS normalisation only).

        Returns
        -------
        x : Tensor, shape [B, 1, n_frames * hop_length]
            Decoded signals (longer than the input by up to ``hop_length - 1`` samples).
        """
        codes = torch.as_tensor(codes, device=self.device)
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError(f"codes must be an integer tensor; got dtype {codes.dtype}.")
        if codes.ndim != 3:
            raise ValueError(
                f"codes must have shape [batch, n_q, n_frames]; got {tuple(codes.shape)}."
            )
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size - 1}]; got values in "
                f"[{int(codes.min())}, {int(codes.max())}]."
            )
        return self.decode_latent(self.quantizer.decode(codes.long()), scale)

    def decode_latent(self, latent, scale=None):
        """Decode quantized latents ``[B, dimension, n_frames]`` into ``[B, 1, n_times']``."""
        out = self.decoder(latent)
        if scale is not None:
            out = out * scale.view(-1, 1, 1)
        return out

    def forward(self, x, n_q=None):
        """Encode, quantize and decode, as in training.

        Parameters
        ----------
        x : Tensor, shape [B, 1, n_times]
            Signals.
        n_q : int | None
            Number of codebooks (all when None; in training, ``quantizer_dropout`` may use
            fewer).

        Returns
        -------
        reconstruction : Tensor, shape [B, 1, n_times]
            Decoded signal cut to the input length.
        penalty : Tensor
            RVQ commitment loss (zero in eval mode).
        codes : Tensor of int64, shape [B, n_q, n_frames]
            The codes used.
        """
        z, scale = self._encode_latent(x)
        result = self.quantizer(z, n_q=n_q)
        out = self.decode_latent(result.quantized, scale)
        return out[..., : x.shape[-1]], result.penalty, result.codes


def _rebuild_codec(config, state_dict, training, device, weights_file=None, source=None):
    codec = BioCodec(config)
    codec.load_state_dict(state_dict)
    codec.train(training)
    codec.weights_file, codec.source = weights_file, source
    return codec.to(device)
