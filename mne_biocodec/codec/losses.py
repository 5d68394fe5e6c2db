"""BioCodec's training objective: time-domain Huber loss plus a multi-scale STFT loss.

Each STFT scale turns a signal into three maps, ``log1p(|S|)``, ``cos(angle(S))`` and
``sin(angle(S))``, weighted 1.0, 0.2 and 0.2, and compares them with L1 + MSE. EEG uses Hann
windows of 32..256 samples, EMG 128..1024, each with a hop of window / 8.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["spectral_maps", "MultiScaleSTFTLoss", "CodecLoss"]

EEG_WINDOWS = (32, 64, 128, 256)
EMG_WINDOWS = (128, 256, 512, 1024)


def spectral_maps(x, win_length, hop_length=None, weights=(1.0, 0.2, 0.2)):
    """Weighted log-magnitude and phase maps of one STFT scale.

    Parameters
    ----------
    x : Tensor, shape [B, n_times]
        Signals.
    win_length : int
        Hann window and FFT size.
    hop_length : int | None
        Hop; ``win_length // 8`` when None.
    weights : tuple of float, default=(1.0, 0.2, 0.2)
        Weights of the log-magnitude, cosine and sine maps.

    Returns
    -------
    maps : Tensor, shape [B, 3, n_freqs, n_stft_frames]
    """
    hop_length = hop_length or win_length // 8
    window = torch.hann_window(win_length, device=x.device, dtype=x.dtype)
    # Symmetric reflect padding of (window - hop) / 2 with an uncentred STFT, as the
    # reference does; ``center=True`` would pad window / 2 and shift every frame.
    pad = (win_length - hop_length) // 2
    spec = torch.stft(F.pad(x, (pad, pad), mode="reflect"), n_fft=win_length,
                      hop_length=hop_length, win_length=win_length, window=window,
                      center=False, return_complex=True)
    magnitude = spec.abs()
    # The unit phasor, not cos/sin of torch.angle: it has a defined gradient at |S| = 0.
    phasor = spec / magnitude.clamp_min(1e-8)
    maps = torch.stack([torch.log1p(magnitude), phasor.real, phasor.imag], dim=1)
    return maps * torch.tensor(weights, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)


class MultiScaleSTFTLoss(nn.Module):
    """Sum over scales of L1 + MSE between the spectral maps of two signals.

    Parameters
    ----------
    windows : sequence of int, default=(32, 64, 128, 256)
        Window lengths (EEG); use ``EMG_WINDOWS`` (128..1024) for 1 kHz EMG.
    weights : tuple of float, default=(1.0, 0.2, 0.2)
        Weights of the log-magnitude, cosine and sine maps.
    """

    def __init__(self, windows=EEG_WINDOWS, weights=(1.0, 0.2, 0.2)):
        super().__init__()
        self.windows = tuple(windows)
        self.weights = tuple(weights)

    def forward(self, target, estimate):
        """Loss between ``target`` and ``estimate`` (``[B, 1, n_times]`` or ``[B, n_times]``)."""
        target = target.reshape(-1, target.shape[-1])
        estimate = estimate.reshape(-1, estimate.shape[-1])
        loss = target.new_zeros(())
        for win in self.windows:
            a = spectral_maps(target, win, weights=self.weights)
            b = spectral_maps(estimate, win, weights=self.weights)
            loss = loss + F.l1_loss(b, a) + F.mse_loss(b, a)
        return loss


class CodecLoss(nn.Module):
    """``time_weight * Huber + freq_weight * multi-scale STFT + commitment``.

    Parameters
    ----------
    time_weight : float, default=0.2
        Weight of the time-domain Huber loss (the reference uses 0.2).
    freq_weight : float, default=1.0
        Weight of the multi-scale STFT loss.
    huber_beta : float, default=0.7
        Huber (SmoothL1) transition point.
    windows : sequence of int, default=(32, 64, 128, 256)
        STFT windows.

    Notes
    -----
    ``forward`` returns a dict with the total ``loss`` and its parts ``l_t``, ``l_f`` and
    ``l_w`` (commitment), the names the reference trainer logs.
    """

    def __init__(self, time_weight=0.2, freq_weight=1.0, huber_beta=0.7, windows=EEG_WINDOWS):
        super().__init__()
        self.time_weight = time_weight
        self.freq_weight = freq_weight
        self.huber_beta = huber_beta
        self.stft_loss = MultiScaleSTFTLoss(windows)

    def forward(self, target, estimate, penalty=None):
        estimate = estimate[..., : target.shape[-1]]
        l_t = F.smooth_l1_loss(estimate, target, beta=self.huber_beta)
        l_f = self.stft_loss(target, estimate)
        l_w = penalty if penalty is not None else target.new_zeros(())
        loss = self.time_weight * l_t + self.freq_weight * l_f + l_w
        return {"loss": loss, "l_t": l_t, "l_f": l_f, "l_w": l_w}
