"""Reconstruction metrics, per segment: Pearson r, SI-SDR, PRD and NMSE.

All functions take ``reference`` and ``estimate`` of the same shape ``[..., n_times]`` (torch
tensors or numpy arrays) and return one value per leading index, in the same library.
"""

import numpy as np
import torch

__all__ = ["pearson_r", "si_sdr", "prd", "nmse", "reconstruction_metrics"]


def _lib(x):
    return torch if isinstance(x, torch.Tensor) else np


def _centered(x):
    return x - x.mean(-1, keepdims=True) if _lib(x) is np else x - x.mean(-1, keepdim=True)


def _sum(x):
    return x.sum(-1)


def pearson_r(reference, estimate, eps=1e-8):
    """Pearson correlation over time.

    Returns
    -------
    r : array, shape [...]
    """
    xc, yc = _centered(reference), _centered(estimate)
    lib = _lib(reference)
    return _sum(xc * yc) / (lib.sqrt(_sum(xc * xc)) * lib.sqrt(_sum(yc * yc)) + eps)


def si_sdr(reference, estimate, eps=1e-8):
    """Scale-invariant signal-to-distortion ratio in dB (both signals mean-removed).

    Returns
    -------
    sdr : array, shape [...]
    """
    ref, est = _centered(reference), _centered(estimate)
    scale = _sum(ref * est)[..., None] / (_sum(ref * ref)[..., None] + eps)
    target = scale * ref
    noise = est - target
    return 10 * _lib(reference).log10(_sum(target * target) / (_sum(noise * noise) + eps) + eps)


def prd(reference, estimate, eps=1e-12):
    """Percentage root-mean-square difference, ``100 * ||x - y|| / ||x - mean(x)||``.

    The mean-removed denominator (PRD-N) keeps the value independent of the DC offset.

    Returns
    -------
    prd : array, shape [...]
    """
    lib = _lib(reference)
    err = reference - estimate
    ref = _centered(reference)
    return 100 * lib.sqrt(_sum(err * err) / (_sum(ref * ref) + eps))


def nmse(reference, estimate, eps=1e-12):
    """Normalised mean squared error, ``||x - y||^2 / ||x - mean(x)||^2`` (linear, not dB).

    Returns
    -------
    nmse : array, shape [...]
    """
    err = reference - estimate
    ref = _centered(reference)
    return _sum(err * err) / (_sum(ref * ref) + eps)


def reconstruction_metrics(reference, estimate):
    """All four metrics at once.

    Parameters
    ----------
    reference, estimate : array or Tensor, shape [..., n_times]
        Original and reconstructed signals (the estimate is cut to the reference length).

    Returns
    -------
    metrics : dict of str -> ndarray
        ``"pearson_r"``, ``"si_sdr"`` (dB), ``"prd"`` (%), ``"nmse"``, one value per segment,
        as float64 numpy arrays.
    """
    if isinstance(reference, torch.Tensor):
        reference = reference.detach().cpu().double().numpy()
    if isinstance(estimate, torch.Tensor):
        estimate = estimate.detach().cpu().double().numpy()
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)[..., : reference.shape[-1]]
    return {name: np.asarray(fun(reference, estimate)) for name, fun in
            (("pearson_r", pearson_r), ("si_sdr", si_sdr), ("prd", prd), ("nmse", nmse))}
