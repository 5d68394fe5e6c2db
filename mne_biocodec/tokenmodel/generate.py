"""Continuing token streams with a token model, and decoding the continuation to signals.

The model is bidirectional, trained to fill hidden codes; :func:`forecast` uses it
autoregressively, one frame at a time and, within a frame, one level at a time: the new frame
is appended fully hidden after the last ``window - 1`` known frames, level 0 is sampled, then
level 1 with level 0 visible, and so on: the "deeper levels of a frame" half of the training
masks is exactly this conditional. Sampling is seeded (``random_state``), with a temperature
and an optional top-k cut.
"""

import numpy as np
import torch

from ..tokens import TokenSet, detokenize
from .model import TokenTransformer

__all__ = ["forecast", "forecast_signal"]


def _unwrap(model):
    """The TokenTransformer of a model or of a fitted BioCodecTokenModel, and its window."""
    inner = getattr(model, "model_", model)
    if not isinstance(inner, TokenTransformer):
        raise TypeError(f"model must be a TokenTransformer or a fitted BioCodecTokenModel; got "
                        f"{type(model).__name__}.")
    window = getattr(model, "window_frames_", None) or (
        getattr(inner, "training_info", {}) or {}).get("window_frames") or min(
        inner.config["max_frames"], 128)
    return inner, int(window)


def _sample(logits, temperature, top_k, generator):
    """One code per row of ``logits`` [N, K]: greedy at temperature 0, else sampled."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        cutoff = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < cutoff, float("-inf"))
    probs = logits.softmax(dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


@torch.no_grad()
def forecast(model, tokens, n_frames, *, temperature=1.0, top_k=None, random_state=None,
             batch_size=256):
    """Continue token streams by ``n_frames`` frames.

    Parameters
    ----------
    model : TokenTransformer | BioCodecTokenModel
        The model (a fitted estimator's ``model_`` is used).
    tokens : TokenSet | ndarray, shape (n_epochs, n_chans, n_q, n_known)
        The known codes.
    n_frames : int
        Frames to add (at the codec's frame rate: 20.8 per second for EEG).
    temperature : float, default=1.0
        Softmax temperature; 0 takes the most probable code (deterministic).
    top_k : int | None, default=None
        Sample among the ``top_k`` most probable codes only.
    random_state : int | None, default=None
        Seed of the sampling (the same seed gives the same continuation).
    batch_size : int, default=256
        Channel sequences per forward pass (does not change the result).

    Returns
    -------
    codes : ndarray, shape (n_epochs, n_chans, n_q, n_known + n_frames)
        The known codes followed by the new ones, in the input's dtype.
    """
    inner, window = _unwrap(model)
    codes = np.asarray(tokens.codes if isinstance(tokens, TokenSet) else tokens)
    if codes.ndim != 4 or codes.dtype.kind not in "iu" or codes.shape[2] != inner.n_q \
            or codes.shape[3] < 1:
        raise ValueError(f"tokens must hold integer codes (n_epochs, n_chans, {inner.n_q}, "
                         f"n_known) with n_known >= 1; got {codes.dtype} of shape "
                         f"{codes.shape}.")
    if codes.size and (codes.min() < 0 or codes.max() >= inner.codebook_size):
        raise ValueError(f"tokens must be codes in 0..{inner.codebook_size - 1}; got "
                         f"{codes.min()}..{codes.max()}.")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) \
            or n_frames < 0:
        raise ValueError(f"n_frames must be an int >= 0; got {n_frames!r}.")
    if isinstance(temperature, bool) or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0; got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                              or top_k < 1):
        raise ValueError(f"top_k must be None or a positive int; got {top_k!r}.")
    inner.eval()
    device = inner.device
    generator = torch.Generator()
    if random_state is None:
        generator.seed()  # fresh entropy for this generator only, torch's own untouched
    else:
        generator.manual_seed(int(random_state))
    n_epochs, n_chans, n_q, n_known = codes.shape
    seqs = torch.as_tensor(codes.reshape(-1, n_q, n_known).astype(np.int64))
    out = torch.cat([seqs, torch.zeros(len(seqs), n_q, n_frames, dtype=torch.int64)], dim=2)
    for t in range(n_known, n_known + n_frames):
        start = max(0, t + 1 - window)
        for rows in range(0, len(out), batch_size):
            chunk = out[rows:rows + batch_size, :, start:t + 1].to(device)
            for q in range(n_q):
                mask = torch.zeros_like(chunk, dtype=torch.bool)
                mask[:, q:, -1] = True
                logits = inner(chunk, mask)[:, q, -1]
                chunk[:, q, -1] = _sample(logits.float(), temperature, top_k, generator)
            out[rows:rows + batch_size, :, t] = chunk[:, :, -1].cpu()
    return out.numpy().astype(codes.dtype).reshape(n_epochs, n_chans, n_q, -1)


def forecast_signal(model, X, seconds, *, temperature=1.0, top_k=None, random_state=None):
    """Continue epochs by ``seconds``: tokenise, :func:`forecast`, decode with the codec.

    Parameters
    ----------
    model : BioCodecTokenModel
        A fitted estimator (its tokenizer and codec are used).
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs
        Signals in volts (the fitted layout).
    seconds : float
        Duration to add.
    temperature, top_k, random_state
        As in :func:`forecast`.

    Returns
    -------
    signals : ndarray, shape (n_epochs, n_chans, n_total)
        The decoded known part followed by the decoded continuation, in volts at the input
        rate (the known part is its codec reconstruction, so the two join without a seam).
    n_known : int
        Samples of ``signals`` that reconstruct ``X`` (the continuation starts there).
    """
    tokenizer = getattr(model, "tokenizer_", None)
    if tokenizer is None:
        raise TypeError(f"model must be a fitted BioCodecTokenModel; got "
                        f"{type(model).__name__}. Call fit first.")
    if isinstance(seconds, bool) or not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number; got {seconds!r}.")
    codec = tokenizer.codec_
    tokens = tokenizer.encode(X)
    n_frames = int(np.ceil(seconds * codec.frame_rate))
    codes = forecast(model, tokens, n_frames, temperature=temperature, top_k=top_k,
                     random_state=random_state)
    ratio = tokens.sfreq / tokens.codec_sfreq
    n_known = int(round(tokens.codes.shape[-1] * codec.hop_length * ratio))
    n_total = int(round(codes.shape[-1] * codec.hop_length * ratio))
    extended = TokenSet(codes=codes, center=tokens.center, scale=tokens.scale,
                        sfreq=tokens.sfreq, n_times=n_total, codec_sfreq=tokens.codec_sfreq,
                        ch_names=tokens.ch_names)
    return detokenize(extended, codec), n_known
