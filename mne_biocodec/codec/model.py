"""The BioCodec model: SEANet encoder, residual vector quantizer, SEANet decoder."""

import copy
import math

import torch
from torch import nn

from .quantization import ResidualVectorQuantizer
from .seanet import SEANetDecoder, SEANetEncoder

__all__ = ["BioCodec", "EEG_CONFIG", "EMG_CONFIG", "default_device"]

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
        The complete configuration (saved with the weights).
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
        unknown = set(config or {}) - set(EEG_CONFIG)
        if unknown:
            raise ValueError(
                f"Unknown codec config keys {sorted(unknown)}; valid keys are "
                f"{sorted(EEG_CONFIG)}."
            )
        self.config = dict(copy.deepcopy(EEG_CONFIG), **copy.deepcopy(config or {}))
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
        return _rebuild_codec, (self.config, state, self.training, str(self.device))

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
        from .io import save_codec

        return save_codec(self, path, extra_metadata=extra_metadata)

    # -- properties ---------------------------------------------------------------------
    @property
    def sample_rate(self):
        """Sampling rate the codec works at, in Hz."""
        return float(self.config["sample_rate"])

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
        self._check_signal(x)
        scale = self._scale(x)
        if scale is not None:
            x = x / scale.view(-1, 1, 1)
        return self.quantizer.encode(self.encoder(x), n_q=n_q), scale

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
        self._check_signal(x)
        scale = self._scale(x)
        z = self.encoder(x / scale.view(-1, 1, 1) if scale is not None else x)
        result = self.quantizer(z, n_q=n_q)
        out = self.decode_latent(result.quantized, scale)
        return out[..., : x.shape[-1]], result.penalty, result.codes


def _rebuild_codec(config, state_dict, training, device):
    codec = BioCodec(config)
    codec.load_state_dict(state_dict)
    codec.train(training)
    return codec.to(device)
