"""Figures of what the tokens are: codebook usage, reconstructions, rate-distortion, spatial
coherence (matrices and topomaps) and token sequences as images.

Each function takes the result of the matching :mod:`mne_biocodec.analysis` function (or the
codes) and returns a :class:`matplotlib.figure.Figure`, made with pyplot so that
``plt.show()`` and sphinx-gallery pick it up; close it with ``plt.close(fig)`` when done.
"""

import numpy as np

from .analysis import METRIC_LABELS, check_codes

__all__ = ["plot_codebook_usage", "plot_reconstruction", "plot_rate_distortion",
           "plot_spatial_coherence", "plot_spatial_topomaps", "plot_tokens"]

# Channels shown by default, when present: motor and midline sites.
_PREFERRED_CHANNELS = ("C3", "CZ", "C4", "FZ", "PZ", "OZ")


def _subplots(n_rows, n_cols, width, height, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(n_rows, n_cols, figsize=(width, height), layout="constrained",
                        squeeze=False, **kwargs)


def _channel_index(ch_names, pick):
    """Index of a channel given by name (case and trailing dots ignored) or index."""
    if isinstance(pick, (int, np.integer)):
        if not -len(ch_names) <= pick < len(ch_names):
            raise ValueError(f"channel index {pick} is out of range for {len(ch_names)} "
                             "channels.")
        return int(pick) % len(ch_names)
    stripped = [str(n).strip(". ").upper() for n in ch_names]
    key = str(pick).strip(". ").upper()
    if key not in stripped:
        raise ValueError(f"channel {pick!r} not found; available: {list(ch_names)[:10]}"
                         f"{' ...' if len(ch_names) > 10 else ''}.")
    return stripped.index(key)


def plot_codebook_usage(usage, sort=True, log=True, n_cols=3):
    """Histogram of code counts per codebook, with its perplexity and dead codes.

    Parameters
    ----------
    usage : CodebookUsage
        What :func:`mne_biocodec.analysis.codebook_usage` returned.
    sort : bool, default=True
        Sort codes by count (a rank-frequency plot, which shows how evenly the codebook is
        used); False keeps the code order.
    log : bool, default=True
        Logarithmic count axis.
    n_cols : int, default=3
        Panels per row.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel per codebook; the dashed line is the count of uniform usage.
    """
    n_cols = min(n_cols, usage.n_q)
    n_rows = -(-usage.n_q // n_cols)
    fig, axes = _subplots(n_rows, n_cols, 3.4 * n_cols, 2.6 * n_rows, sharey=True)
    for q, ax in enumerate(axes.ravel()):
        if q >= usage.n_q:
            ax.set_axis_off()
            continue
        counts = np.sort(usage.counts[q])[::-1] if sort else usage.counts[q]
        ax.bar(np.arange(usage.n_codes), counts, width=1.0, color="C0")
        ax.axhline(usage.counts[q].sum() / usage.n_codes, color="k", ls="--", lw=0.8)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"codebook {q}: perplexity {usage.perplexity[q]:.0f}/{usage.n_codes}, "
                     f"{usage.entropy_bits[q]:.2f} bit, {usage.dead_codes[q]} dead",
                     fontsize="small")
        ax.set_xlim(-0.5, usage.n_codes - 0.5)
        if q % n_cols == 0:
            ax.set_ylabel("count")
        if q // n_cols == n_rows - 1 or q + n_cols >= usage.n_q:
            ax.set_xlabel("code rank" if sort else "code")
    return fig


def plot_reconstruction(reconstruction, picks=None, n_q=None, epoch=0, start=0.0,
                        duration=5.0, scaling=1e6, unit="µV", title=None):
    """Original vs decoded signals, one panel per channel and number of codebooks.

    Parameters
    ----------
    reconstruction : Reconstruction
        What :func:`mne_biocodec.analysis.reconstruct` returned (or one built from arrays).
    picks : list of str | list of int | None
        Channels (names or indices). None: up to four of C3, Cz, C4, Fz, Pz, Oz, else the
        first four channels.
    n_q : int | list of int | None
        Numbers of codebooks to show (all those decoded when None).
    epoch : int, default=0
        Which epoch.
    start, duration : float, default=0.0, 5.0
        Time window shown, in seconds (moved back to fit the epoch).
    scaling : float, default=1e6
        Factor applied to the signals before plotting (volts to µV by default).
    unit : str, default="µV"
        Unit label after scaling.
    title : str | None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Panels titled with the channel, ``n_q`` and its Pearson r and SI-SDR over the whole
        epoch.
    """
    rec = reconstruction
    ch_names = list(rec.ch_names)
    if picks is None:
        stripped = [n.strip(". ").upper() for n in ch_names]
        idx = [stripped.index(n) for n in _PREFERRED_CHANNELS if n in stripped]
        idx = (idx or list(range(len(ch_names))))[:4]
    else:
        idx = [_channel_index(ch_names, p) for p in np.atleast_1d(picks).tolist()]
    n_q_list = sorted(rec.decoded) if n_q is None else [int(k) for k in np.atleast_1d(n_q)]
    missing = sorted(set(n_q_list) - set(rec.decoded))
    if missing:
        raise ValueError(f"n_q {missing} were not decoded; available: {sorted(rec.decoded)}.")
    n_times = rec.original.shape[-1]
    length = max(1, min(n_times, int(round(duration * rec.sfreq))))
    first = int(np.clip(round(start * rec.sfreq), 0, n_times - length))
    times = (first + np.arange(length)) / rec.sfreq
    window = slice(first, first + length)
    metrics = rec.metrics
    rows = [(i, k) for i in idx for k in n_q_list]
    fig, axes = _subplots(len(rows), 1, 10, 1.6 * len(rows) + 0.6, sharex=True)
    for ax, (i, k) in zip(axes[:, 0], rows):
        ax.plot(times, scaling * rec.original[epoch, i, window], color="k", lw=0.9,
                label="original")
        ax.plot(times, scaling * rec.decoded[k][epoch, i, window], color="tab:orange", lw=0.9,
                label="decoded")
        name = ch_names[i].strip(".")
        ax.set_ylabel(f"{name}\n({unit})")
        bits = rec.bits_per_sample.get(k)
        rate = f" ({bits:.2f} bit/sample)" if bits is not None else ""
        ax.set_title(f"{name}, n_q={k}{rate}: r {metrics[k]['pearson_r'][epoch, i]:.3f}, "
                     f"SI-SDR {metrics[k]['si_sdr'][epoch, i]:.1f} dB", fontsize="small",
                     loc="left")
    axes[0, 0].legend(loc="upper right", ncol=2, fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


def plot_rate_distortion(rate_distortion, metrics=("pearson_r", "si_sdr"), title=None,
                         label="codec"):
    """Mean fidelity against bits per sample, codec (per ``n_q``) vs DCT coder.

    Parameters
    ----------
    rate_distortion : RateDistortion
        What :func:`mne_biocodec.analysis.rate_distortion` returned.
    metrics : sequence of str, default=("pearson_r", "si_sdr")
        One panel per metric (keys of
        :func:`~mne_biocodec.codec.metrics.reconstruction_metrics`).
    title : str | None
        Figure title.
    label : str, default="codec"
        Legend label of the codec curve.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, axes = _subplots(1, len(metrics), 4.5 * len(metrics), 3.6)
    for ax, metric in zip(axes[0], metrics):
        x, y = rate_distortion.curve(metric, "codec")
        ax.plot(x, y, "o-", label=f"{label} (n_q)")
        for entry, xi, yi in zip(rate_distortion.codec, x, y):
            ax.annotate(str(entry["n_q"]), (xi, yi), textcoords="offset points",
                        xytext=(3, 4), fontsize=7)
        ax.plot(*rate_distortion.curve(metric, "dct"), "s--",
                label="DCT + ideal entropy coder")
        ax.set_xlabel("bits / sample")
        ax.set_ylabel(f"mean {METRIC_LABELS[metric]}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _matrix_panel(fig, ax, matrix, title, ch_names):
    im = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize="small")
    if len(ch_names) <= 32:
        ticks = np.arange(len(ch_names))
        ax.set_xticks(ticks, ch_names, rotation=90, fontsize=6)
        ax.set_yticks(ticks, ch_names, fontsize=6)
    else:
        ax.set_xlabel("channel")
        ax.set_ylabel("channel")
    fig.colorbar(im, ax=ax, shrink=0.8)


def _labels(result):
    band = (f" {result.band[0]:g}-{result.band[1]:g} Hz" if result.method == "coherence"
            else "")
    return f"token-embedding {result.metric}", f"signal {result.method}{band}"


def plot_spatial_coherence(result):
    """The token-similarity and signal-connectivity matrices side by side, and their pairs.

    Parameters
    ----------
    result : SpatialCoherence
        What :func:`mne_biocodec.analysis.spatial_coherence` returned.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Three panels: the two channel x channel matrices and a scatter of their channel
        pairs with the Spearman correlation.
    """
    token_label, signal_label = _labels(result)
    fig, axes = _subplots(1, 3, 14, 4.4)
    _matrix_panel(fig, axes[0, 0], result.token_similarity, token_label, result.ch_names)
    _matrix_panel(fig, axes[0, 1], result.signal_connectivity, signal_label, result.ch_names)
    upper = np.triu_indices(len(result.ch_names), 1)
    ax = axes[0, 2]
    ax.scatter(result.signal_connectivity[upper], result.token_similarity[upper], s=4,
               alpha=0.4, color="C0", edgecolors="none")
    ax.set(xlabel=signal_label, ylabel=token_label)
    ax.set_title(f"{len(upper[0])} channel pairs: Spearman rho {result.spearman_r:.2f}",
                 fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_spatial_topomaps(result, info=None, seed=None, cmap="viridis"):
    """Topomaps of the token similarity and the signal connectivity.

    Parameters
    ----------
    result : SpatialCoherence
        What :func:`mne_biocodec.analysis.spatial_coherence` returned.
    info : mne.Info | None
        Channel positions (``result.info`` when None, which epochs input provides).
    seed : str | int | None
        None: each channel's mean similarity to all the other channels. A channel: every
        channel's similarity to that seed (the seed is marked, and drawn at the largest
        value of the others).
    cmap : str, default="viridis"
        Colour map.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two topomaps, token similarity (left) and signal connectivity (right).
    """
    import mne

    info = result.info if info is None else info
    if info is None:
        raise ValueError("no channel positions: pass info= (e.g. epochs.info with a montage) "
                         "or compute the result from mne.Epochs.")
    missing = [c for c in result.ch_names if c not in info.ch_names]
    if missing:
        raise ValueError(f"info lacks the channels {missing[:5]}; pass the info of the "
                         "epochs the result was computed from.")
    info = mne.pick_info(info, [info.ch_names.index(c) for c in result.ch_names])
    token_label, signal_label = _labels(result)
    fig, axes = _subplots(1, 2, 9, 4)
    n = len(result.ch_names)
    mask = None
    if seed is not None:
        s = _channel_index(result.ch_names, seed)
        mask = np.zeros(n, dtype=bool)
        mask[s] = True
    for ax, matrix, label in zip(axes[0], (result.token_similarity,
                                           result.signal_connectivity),
                                 (token_label, signal_label)):
        if seed is None:
            values = (matrix.sum(axis=1) - np.diag(matrix)) / (n - 1)
            what = "mean over the other channels"
        else:
            values = matrix[s].copy()
            values[s] = np.delete(values, s).max()
            what = f"to {result.ch_names[s]}"
        im, _ = mne.viz.plot_topomap(values, info, axes=ax, show=False, cmap=cmap,
                                     vlim=(values.min(), values.max()), mask=mask,
                                     mask_params=dict(markersize=10, markerfacecolor="w"))
        ax.set_title(f"{label}\n{what}", fontsize="small")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_tokens(tokens, epoch=0, codebook=0, channel=None, ch_names=None, frame_rate=None,
                cmap="viridis"):
    """The codes of one epoch as an image.

    Parameters
    ----------
    tokens : TokenSet | ndarray of int, shape (n_epochs, n_chans, n_q, n_frames)
        Codes.
    epoch : int, default=0
        Which epoch.
    codebook : int, default=0
        With ``channel=None``: the codebook shown, as channels x frames.
    channel : str | int | None
        A channel: its codebooks x frames instead.
    ch_names : list of str | None
        Channel names (taken from a TokenSet when None).
    frame_rate : float | None
        Frames per second, to label the x axis in seconds (frames when None).
    cmap : str, default="viridis"
        Colour map of the code indices.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    codes = check_codes(tokens)
    if codes.ndim != 4:
        raise ValueError(f"codes must have shape (n_epochs, n_chans, n_q, n_frames); got "
                         f"shape {codes.shape}.")
    if ch_names is None:
        ch_names = getattr(tokens, "ch_names", None)
    n_epochs, n_chans, n_q, n_frames = codes.shape
    ch_names = list(ch_names) if ch_names is not None else [str(i) for i in range(n_chans)]
    if not 0 <= epoch < n_epochs:
        raise ValueError(f"epoch must lie in 0..{n_epochs - 1}; got {epoch}.")
    if channel is None:
        if not 0 <= codebook < n_q:
            raise ValueError(f"codebook must lie in 0..{n_q - 1}; got {codebook}.")
        image, labels, what = codes[epoch, :, codebook], ch_names, f"codebook {codebook}"
        ylabel = "channel"
    else:
        i = _channel_index(ch_names, channel)
        image, labels = codes[epoch, i], [str(q) for q in range(n_q)]
        what, ylabel = f"channel {ch_names[i]}", "codebook"
    extent_x = n_frames / frame_rate if frame_rate else n_frames
    fig, axes = _subplots(1, 1, 9, min(7.0, 1.2 + 0.16 * max(len(labels), 8)))
    ax = axes[0, 0]
    im = ax.imshow(image, aspect="auto", interpolation="nearest", cmap=cmap,
                   extent=(0, extent_x, len(labels) - 0.5, -0.5))
    step = max(1, len(labels) // 16)
    ax.set_yticks(np.arange(0, len(labels), step), labels[::step], fontsize=7)
    ax.set(xlabel="time (s)" if frame_rate else "frame", ylabel=ylabel,
           title=f"Tokens of epoch {epoch}, {what}")
    fig.colorbar(im, ax=ax, label="code", pad=0.01)
    return fig
