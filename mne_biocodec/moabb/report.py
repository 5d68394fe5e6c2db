"""Benchmark outputs: per-subject scores (CSV), results (JSON), a markdown table and a plot.

Every file is written atomically (:class:`mne_biocodec.codec.io.atomic_write`), so an
interrupted run never leaves a half-written result behind.
"""

import json
from pathlib import Path

import numpy as np

from ..codec.io import atomic_write

__all__ = ["summarize", "markdown_table", "plot_scores", "plot_learning_curve",
           "write_report"]


def summarize(scores, value="score", group="pipeline", n_params=None):
    """Mean, standard deviation and count of ``value`` per ``group``.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per subject (and session, fold...) and pipeline.
    value : str, default="score"
        Column to summarise.
    group : str | list of str, default="pipeline"
        Column(s) to group by.
    n_params : dict of str -> int | None
        Trainable parameters per pipeline, added as a column.

    Returns
    -------
    summary : pandas.DataFrame
        Columns ``mean``, ``std`` (over rows, ``ddof=0``), ``n`` (rows), ``n_subjects`` and,
        when given, ``n_params``; sorted by decreasing mean.
    """
    grouped = scores.groupby(group, sort=False)
    summary = grouped[value].agg(mean="mean", std=lambda v: float(np.std(v)), n="size")
    if "subject" in scores:
        summary["n_subjects"] = grouped["subject"].nunique()
    if n_params is not None:
        names = summary.index.get_level_values("pipeline")
        summary["n_params"] = [n_params.get(name, np.nan) for name in names]
    return summary.sort_values("mean", ascending=False)


def markdown_table(summary, metric, scale=100.0, title=None, notes=(), count="n subjects"):
    """A markdown table of a :func:`summarize` result (scores scaled, e.g. to percent).

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    metric : str
        Name of the score (column header).
    scale : float, default=100.0
        Factor applied to the scores (100 gives percent, as MOABB's tables).
    title : str | None
        A heading line.
    notes : sequence of str
        Lines printed under the table.
    count : str, default="n subjects"
        Header of the count column (``n_subjects``, else ``n``).

    Returns
    -------
    text : str
    """
    index_names = [n or "pipeline" for n in summary.index.names]
    header = index_names + [f"{metric} (mean ± std)", count]
    has_params = "n_params" in summary
    if has_params:
        header.append("trainable parameters")
    lines = ([f"### {title}", ""] if title else []) + [
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, row in summary.iterrows():
        keys = [str(k) for k in np.atleast_1d(key)]
        cells = keys + [f"{row['mean'] * scale:.2f} ± {row['std'] * scale:.2f}",
                        str(int(row.get("n_subjects", row["n"])))]
        if has_params:
            cells.append("-" if np.isnan(row["n_params"]) else f"{int(row['n_params']):,}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"{note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def plot_scores(scores, metric, value="score", chance=None, title=None, order=None,
                label_subjects=True, ax=None):
    """Scores per pipeline: mean ± std over subjects with one dot per subject.

    Parameters
    ----------
    scores : pandas.DataFrame
        Columns ``pipeline``, ``subject`` and ``value``.
    metric : str
        Axis label.
    value : str, default="score"
        Column plotted.
    chance : float | None
        Chance level, drawn as a dashed line.
    title : str | None
        Figure title.
    order : list of str | None
        Pipelines, top to bottom (decreasing mean when None).
    label_subjects : bool, default=True
        Write the subject number next to each dot.
    ax : matplotlib.axes.Axes | None
        Where to draw; None makes a new figure without pyplot state (safe in scripts and
        workers).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    means = scores.groupby("pipeline")[value].mean()
    order = list(order) if order is not None else list(means.sort_values().index)[::-1]
    fig, ax = _figure_axes(ax, (7.5, 0.55 * len(order) + 1.4))
    rng = np.random.default_rng(0)
    for i, name in enumerate(order):
        rows = scores[scores["pipeline"] == name]
        per_subject = rows.groupby("subject")[value].mean()
        y = len(order) - 1 - i
        ax.errorbar(per_subject.mean(), y, xerr=per_subject.std(ddof=0), fmt="D", color="k",
                    ms=6, capsize=4, zorder=4, label="mean ± std" if i == 0 else None)
        jitter = rng.uniform(-0.25, 0.25, len(per_subject))
        ax.scatter(per_subject.values, y + jitter, s=18, color="tab:blue", alpha=0.8,
                   zorder=3, label="subjects" if i == 0 else None)
        if label_subjects:
            for subject, x, dy in zip(per_subject.index, per_subject.values, jitter):
                ax.annotate(str(subject), (x, y + dy), xytext=(3, 2),
                            textcoords="offset points", fontsize=6, color="0.3")
    ax.set_yticks(range(len(order)), order[::-1])
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.grid(axis="x", color="0.9")
    if chance is not None:
        ax.axvline(chance, color="0.3", ls="--", lw=0.8, label=f"chance ({chance:.2g})")
    ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(metric)
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def plot_learning_curve(per_subject, metric, value="score", chance=None, title=None,
                        ax=None):
    """Mean ± standard error over subjects against training trials per class.

    Parameters
    ----------
    per_subject : pandas.DataFrame
        Columns ``pipeline``, ``n_per_class``, ``subject`` and ``value``.
    metric : str
        Axis label.
    value : str, default="score"
    chance : float | None
    title : str | None
    ax : matplotlib.axes.Axes | None
        Where to draw; None makes a new figure without pyplot state.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, ax = _figure_axes(ax, (6.5, 4.2))
    groups = list(per_subject.groupby("pipeline", sort=False))
    for i, (name, rows) in enumerate(groups):
        stats = rows.groupby("n_per_class")[value].agg(["mean", "std", "count"])
        sem = stats["std"].fillna(0) / np.sqrt(stats["count"])
        dodge = 0.12 * (i - (len(groups) - 1) / 2)  # keeps the error bars apart
        ax.errorbar(stats.index + dodge, stats["mean"], yerr=sem, marker="o", capsize=3,
                    label=name)
    ax.set_xticks(sorted(per_subject["n_per_class"].unique()))
    if chance is not None:
        ax.axhline(chance, color="k", ls="--", lw=0.8)
    ax.set_xlabel("training trials per class")
    ax.set_ylabel(f"{metric} (mean ± s.e.m. over subjects)")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def _figure_axes(ax, figsize):
    """``(fig, ax)``: those of ``ax``, or a new pyplot-free figure."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (np.ndarray,)):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(output_dir, stem, scores, summary, config, table, fig=None):
    """Write ``<stem>_scores.csv``, ``<stem>.json``, ``<stem>.md`` and ``<stem>.png``.

    Parameters
    ----------
    output_dir : path-like
        Folder (created when missing).
    stem : str
        File name stem.
    scores : pandas.DataFrame
        Per-subject (or per-fold) scores.
    summary : pandas.DataFrame
        Output of :func:`summarize`.
    config : dict
        Settings of the run (stored in the JSON).
    table : str
        Markdown text.
    fig : matplotlib.figure.Figure | None
        Plot to save as PNG.

    Returns
    -------
    paths : dict of str -> pathlib.Path
        ``"csv"``, ``"json"``, ``"md"`` and ``"png"`` (when a figure was given).
    """
    out = Path(output_dir)
    paths = {"csv": out / f"{stem}_scores.csv", "json": out / f"{stem}.json",
             "md": out / f"{stem}.md"}
    with atomic_write(paths["csv"]) as tmp:
        scores.to_csv(tmp, index=False)
    flat = summary.reset_index()
    payload = {"config": config, "summary": flat.to_dict(orient="records"),
               "scores": scores.to_dict(orient="records")}
    with atomic_write(paths["json"]) as tmp:
        tmp.write_text(json.dumps(_jsonable(payload), indent=1))
    with atomic_write(paths["md"]) as tmp:
        tmp.write_text(table)
    if fig is not None:
        paths["png"] = out / f"{stem}.png"
        with atomic_write(paths["png"]) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    return paths
