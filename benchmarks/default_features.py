"""Which default tokenizer output lets ``Pipeline([BioCodecTokenizer(), LogisticRegression()])``
decode left/right motor imagery (issue 19)?

Today ``output="auto"`` gives ``"spatial"`` features (n (n - 1) / 2 raw correlations between
the channels' code-vector streams plus n log robust scales), which a ``LogisticRegression()``
at its defaults cannot use. This script tokenises each subject's epochs once (token cache) and
computes candidate default outputs from the codes, each fed to ``LogisticRegression()`` at its
defaults (``NON_DEFAULT`` lists the exceptions: the known workaround with ``C=0.01`` and the
two references on signals):

- ``BioCodecTokenizer()+LR``: the issue's pipeline exactly as shipped (tokenised in every
  fold, from the cache); ``spatial``: the same features computed once (identical scores);
  ``spatial+scaler`` and ``spatial+scaler+C0.01``: with a ``StandardScaler`` in between;
- ``BioCodec+TS+LR``: :func:`mne_biocodec.moabb.make_pipelines`' pipeline after its tokenizer;
- ``ts/<levels>/<matrix>/<shrinkage>``: tangent-space vectors (pyRiemann
  ``TangentSpace(metric="riemann")``, reference point learnt in ``fit``) of per-epoch
  channel x channel matrices built from the channels' token streams. ``levels``: ``q1`` (the
  16-d code vectors of codebook 1), ``q1-2`` / ``q1-6`` (16-d vectors summed over codebooks,
  as ``"spatial"`` does), ``cat6`` (the six codebooks' vectors side by side), ``latN`` (the
  quantized 128-d latent of the first N codebooks, what the decoder receives). ``matrix``:
  ``corr``, the streams' correlation R shrunk to ``(1 - a) R + a I``; ``corrs_tr``, the same
  scaled by the channels' robust scales ``s_i s_j`` (covariance-like: it carries band power)
  and divided by its mean diagonal; ``oass``, the OAS covariance of the streams times
  ``s_i s_j``. ``ts/scales-only`` is ``corrs_tr`` with ``a = 1``: the channels' relative log
  power and nothing from the tokens;
- ``logscale`` (the n log10 robust scales), ``logvar`` / ``logvar+scaler`` (log-variance of
  each channel's code vectors per codebook, plus the log scales);
- ``decoded/TS``: OAS covariance of the signals decoded back from the tokens, tangent space;
- references on the signals, MOABB's ``TS+LR`` and ``CSP+LDA``.

Data: eegmmidb (PhysioNet MI) subjects 1-5, left vs right fist (T1/T2), 45 epochs each, read
offline from ``$MNE_DATA``. Protocols: ``bp8-32``, band-pass 8-32 Hz, epochs 0.5-2.5 s (the
issue's); ``raw0-4``, no filter, epochs 0-4 s (what a new user tries first). Folds:
``folds42`` is the issue's ``StratifiedKFold(5, shuffle=True, random_state=42)``;
``repeated`` is ``--repeats`` x stratified 5-fold (``random_state=0``), less noisy with 45
epochs.

Selection: the best mean ``repeated`` accuracy on the imagined runs (R04, R08, R12) of the
development subjects 2-5 among the default-eligible token candidates, under two rules (both
protocols, or the issue's protocol only); subject 1 is the test subject, and each rule is also
applied leaving each subject out in turn (its choice scored on the left-out subject), a
5-subject estimate of the rule. The executed runs (R03, R07, R11) are scored for a shortlist:
every pipeline, TS+LR included, is near chance on them in these windows, so they cannot serve
as development data (and the codec was pretrained, without labels, on the executed runs of
subjects 1-3).

Usage::

    python benchmarks/default_features.py --threads 1 [--cache-dir /tmp/bc_cache] \\
        [--out benchmarks/results/default_features.json] [--repeats 2] [--resume]

It prints the tables and writes one JSON file (atomically, after each subject); ``--resume``
keeps the scores already in ``--out`` and computes only the missing ones. About 50 min on one
core from an empty token cache.
"""

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

SUBJECTS = [1, 2, 3, 4, 5]
RUNS = {"executed": [3, 7, 11], "imagined": [4, 8, 12]}
PROTOCOLS = {
    "bp8-32": {"band": (8.0, 32.0), "tmin": 0.5, "tmax": 2.5},
    "raw0-4": {"band": None, "tmin": 0.0, "tmax": 4.0},
}
# The codebooks are cosine codebooks of unit-norm vectors, so every level weighs the same in
# a sum or a concatenation (equalising the levels' norms changes nothing). Each level has its
# own 16 -> 128 output projection, so a sum of 16-d vectors over levels ("q1-2", "q1-6", what
# output="spatial" does) adds coordinates of unrelated spaces; "latN" sums the projected
# vectors instead: the quantized 128-d latent of the first N codebooks, the decoder's input.
LEVELS = {"q1": ("sum", 1), "q1-2": ("sum", 2), "q1-6": ("sum", 6), "cat6": ("cat", 6),
          "lat1": ("lat", 1), "lat2": ("lat", 2), "lat6": ("lat", 6)}
# (matrix, shrinkage): the correlation family with its shrinkage, and OAS covariances
MATRICES = (("corr", 0.1), ("corrs_tr", 0.01), ("corrs_tr", 0.1), ("corrs_tr", 0.3),
            ("corrs_tr", 0.5), ("oass", "oas"))
# Not eligible as the default: a tuned C, or no tokens at all.
NON_DEFAULT = ("spatial+scaler+C0.01", "TS+LR", "CSP+LDA")
# Scored on the executed runs too (to show whether they can serve as development data).
EXECUTED_SHORTLIST = ("spatial", "spatial+scaler+C0.01", "BioCodec+TS+LR", "ts/q1-2/corrs_tr/0.1",
                      "ts/cat6/corrs_tr/0.1", "ts/lat1/corrs_tr/0.3", "ts/lat2/corrs_tr/0.3",
                      "ts/lat6/corrs_tr/0.3", "TS+LR", "CSP+LDA")
DEV_SUBJECTS = [2, 3, 4, 5]
TEST_SUBJECT = 1
# Selection rules: the protocols whose development scores are averaged.
RULES = {"both protocols": ("bp8-32", "raw0-4"), "issue protocol": ("bp8-32",)}


# --------------------------------------------------------------------------- data and tokens

def load_epochs(subject, runs, protocol):
    """Left/right epochs (T1/T2) of one subject: signals in volts, labels, sampling rate."""
    import mne
    from mne.datasets import eegbci

    files = eegbci.load_data(subject, runs, path=os.environ["MNE_DATA"], update_path=False)
    raw = mne.concatenate_raws([mne.io.read_raw_edf(f, preload=True) for f in files])
    eegbci.standardize(raw)
    spec = PROTOCOLS[protocol]
    if spec["band"] is not None:
        raw.filter(*spec["band"])
    events, _ = mne.events_from_annotations(raw, event_id={"T1": 2, "T2": 3})
    epochs = mne.Epochs(raw, events, {"left": 2, "right": 3}, spec["tmin"], spec["tmax"],
                        baseline=None, preload=True, picks="eeg")
    return epochs.get_data(copy=True), epochs.events[:, 2], float(raw.info["sfreq"])


def level_streams(tokens, codec):
    """Code vectors of every level ``(n_epochs, n_chans, n_q, n_frames, codebook_dim)``."""
    codes = np.asarray(tokens.codes).astype(np.int64)
    n_q = codes.shape[2]
    vectors = codec.codebook_vectors(n_q).cpu().numpy()  # (n_q, codebook_size, codebook_dim)
    return vectors[np.arange(n_q)[None, None, :, None], codes]


def latent_tables(codec):
    """Per codebook, the quantized latent of each code: ``(n_q, codebook_size, dimension)``."""
    import torch

    codes = torch.arange(codec.codebook_size)[None]  # [1, K]
    with torch.inference_mode():
        return np.stack([layer.decode(codes)[0].T.cpu().numpy()
                         for layer in codec.quantizer.layers])


def streams_for(levels, emb, codes=None, tables=None):
    """Per-channel streams ``(n_epochs, n_chans, n_values)`` for a ``LEVELS`` entry."""
    how, n_q = LEVELS[levels]
    n_epochs, n_chans = emb.shape[:2]
    if how == "lat":
        codes = np.asarray(codes).astype(np.int64)
        latent = sum(tables[q][codes[:, :, q]] for q in range(n_q))  # (E, C, F, D)
        return latent.reshape(n_epochs, n_chans, -1)
    if how == "sum":
        return emb[:, :, :n_q].sum(axis=2).reshape(n_epochs, n_chans, -1)
    return emb[:, :, :n_q].reshape(n_epochs, n_chans, -1)


# --------------------------------------------------------------------------- matrices

def correlation(streams):
    """Correlation between channels' streams, over frames and embedding dimensions."""
    s = streams - streams.mean(axis=-1, keepdims=True)
    cov = np.einsum("ect,eft->ecf", s, s, dtype=np.float64)
    norm = np.sqrt(np.einsum("ecc->ec", cov)) + 1e-12
    return cov / (norm[:, :, None] * norm[:, None, :])


def token_matrices(streams, scale, matrix, shrinkage):
    """SPD matrices ``(n_epochs, n_chans, n_chans)`` of one ``MATRICES`` kind."""
    n = streams.shape[1]
    if matrix == "oass":
        from pyriemann.estimation import Covariances

        mats = Covariances("oas").transform(streams.astype(np.float64))
    else:
        mats = (1.0 - shrinkage) * correlation(streams) + shrinkage * np.eye(n)
    if matrix in ("corrs_tr", "oass"):
        mats = mats * scale[:, :, None] * scale[:, None, :]
    if matrix == "corrs_tr":
        mats /= np.trace(mats, axis1=1, axis2=2)[:, None, None] / n
    return mats


# --------------------------------------------------------------------------- candidates

def _lr(**params):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params)


def _ts_lr():
    from pyriemann.tangentspace import TangentSpace
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TangentSpace(metric="riemann"), _lr())


def candidates(tokens, codec, emb, X, sfreq, cache_dir):
    """``name -> (function returning the precomputed input, pipeline)``.

    The functions are lazy so that each candidate's feature time is measured on its own.
    """
    from pyriemann.estimation import Covariances
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mne_biocodec import BioCodecTokenizer
    from mne_biocodec.estimators.features import token_coherence, token_features
    from mne_biocodec.moabb import make_pipelines
    from mne_biocodec.tokens import detokenize

    scale = tokens.scale[..., 0]
    log_scale = np.log10(scale)

    def spatial():
        return token_features(tokens, codec, kind="spatial", log_scale=True)

    def logvar():
        var = emb.var(axis=(3, 4)).reshape(len(emb), -1)
        return np.concatenate([np.log10(var + 1e-12), log_scale], axis=1)

    def decoded():
        return Covariances("oas").transform(detokenize(tokens, codec))

    pipes = make_pipelines("imagery", sfreq, names=["BioCodec+TS+LR", "TS+LR", "CSP+LDA"])
    out = {
        # the pipeline as written: tokenised again in every fold (from the cache)
        "BioCodecTokenizer()+LR": (lambda: X, Pipeline([
            ("tokens", BioCodecTokenizer(sfreq=sfreq, cache=cache_dir)), ("lr", _lr())])),
        "spatial": (spatial, _lr()),
        "spatial+scaler": (spatial, make_pipeline(StandardScaler(), _lr())),
        "spatial+scaler+C0.01": (spatial, make_pipeline(StandardScaler(), _lr(C=0.01))),
        # make_pipelines' BioCodec+TS+LR after its tokenizer (output="coherence")
        "BioCodec+TS+LR": (lambda: token_coherence(tokens, codec, scale=True),
                           Pipeline(pipes["BioCodec+TS+LR"].steps[1:])),
        "logscale": (lambda: log_scale, _lr()),
        "logvar": (logvar, _lr()),
        "logvar+scaler": (logvar, make_pipeline(StandardScaler(), _lr())),
        "decoded/TS": (decoded, _ts_lr()),
        "TS+LR": (lambda: X, pipes["TS+LR"]),
        "CSP+LDA": (lambda: X, pipes["CSP+LDA"]),
    }
    tables = latent_tables(codec)
    for name, levels, matrix, shrinkage in ts_grid():
        def feats(levels=levels, matrix=matrix, shrinkage=shrinkage):
            return token_matrices(streams_for(levels, emb, tokens.codes, tables), scale,
                                  matrix, 0.0 if shrinkage == "oas" else shrinkage)

        out[name] = (feats, _ts_lr())
    if list(out) != CANDIDATE_NAMES:
        raise RuntimeError("BASE_CANDIDATES is out of date with candidates()")
    return out


def ts_grid():
    """``(name, levels, matrix, shrinkage)`` of the tangent-space candidates."""
    for levels in LEVELS:
        for matrix, shrinkage in MATRICES:
            name = f"ts/{levels}/{matrix}/{shrinkage}"
            if name != "ts/q1-6/corrs_tr/0.01":  # the matrices of BioCodec+TS+LR
                yield name, levels, matrix, shrinkage
    # shrinkage 1: diag(s**2) / mean(s**2), the channels' relative log power alone
    yield "ts/scales-only", "q1", "corrs_tr", 1.0


BASE_CANDIDATES = ["BioCodecTokenizer()+LR", "spatial", "spatial+scaler", "spatial+scaler+C0.01",
                   "BioCodec+TS+LR", "logscale", "logvar", "logvar+scaler", "decoded/TS",
                   "TS+LR", "CSP+LDA"]
CANDIDATE_NAMES = BASE_CANDIDATES + [name for name, *_ in ts_grid()]


# --------------------------------------------------------------------------- evaluation

def fold_schemes(n_repeats):
    """The issue's single 5-fold split and a repeated one (less noisy with 45 epochs)."""
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    return {"folds42": StratifiedKFold(n_splits=5, shuffle=True, random_state=42),
            "repeated": RepeatedStratifiedKFold(n_splits=5, n_repeats=n_repeats,
                                                random_state=0)}


def evaluate(subject, runs, protocol, codec, schemes, cache_dir, names, done):
    """Accuracy and times of the candidates in ``names`` not already in ``done``."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    from mne_biocodec.tokens import tokenize

    todo = [n for n in names if n not in done]
    if not todo:
        return {}, None, None
    X, y, sfreq = load_epochs(subject, runs, protocol)
    t0 = time.perf_counter()
    tokens = tokenize(X, sfreq, codec, cache=cache_dir)
    t_tok = time.perf_counter() - t0
    emb = level_streams(tokens, codec)
    results = {}
    for name, (features, pipeline) in candidates(tokens, codec, emb, X, sfreq,
                                                 cache_dir).items():
        if name not in todo:
            continue
        t0 = time.perf_counter()
        Z = features()
        row = {"features_s": round(time.perf_counter() - t0, 2)}
        for scheme, cv in schemes.items():
            t0 = time.perf_counter()
            scores = cross_val_score(clone(pipeline), Z, y, cv=cv, scoring="accuracy")
            row[scheme] = round(float(np.mean(scores)), 4)
            row[f"{scheme}_s"] = round(time.perf_counter() - t0, 2)
        results[name] = row
    return results, round(t_tok, 1), len(y)


def present(per_subject, subjects):
    """Current candidates scored for all ``subjects`` (older runs may hold retired ones)."""
    return [n for n in CANDIDATE_NAMES
            if all(n in per_subject[str(s)]["scores"] for s in subjects)]


def summarise(raw, subjects):
    """``{protocol: {candidate: {scheme: {"per_subject", "mean"}, "wall_s"}}}``."""
    table = {}
    for protocol, per_subject in raw.items():
        rows = {}
        for name in present(per_subject, subjects):
            entries = [per_subject[str(s)]["scores"][name] for s in subjects]
            row = {}
            for scheme in ("folds42", "repeated"):
                accs = [e[scheme] for e in entries]
                row[scheme] = {"per_subject": accs, "mean": round(float(np.mean(accs)), 4)}
            # features plus the 5 folds, summed over subjects
            row["wall_s"] = round(sum(e["features_s"] + e["folds42_s"] for e in entries), 1)
            rows[name] = row
        table[protocol] = rows
    return table


def print_table(title, table, scheme):
    for protocol, rows in table.items():
        print(f"\n{title} ({scheme}), {protocol}\n{'candidate':26s} {'mean':>6s} {'wall s':>7s}"
              "  per subject", flush=True)
        for name, row in sorted(rows.items(), key=lambda kv: -kv[1][scheme]["mean"]):
            per = " ".join(f"{a:.3f}" for a in row[scheme]["per_subject"])
            print(f"{name:26s} {row[scheme]['mean']:6.3f} {row['wall_s']:7.1f}  {per}",
                  flush=True)


def dev_means(raw, subjects, protocols, scheme="repeated"):
    """Mean accuracy over ``subjects`` and ``protocols`` of the default-eligible candidates."""
    names = set.intersection(*(set(present(raw[p], subjects)) for p in protocols))
    return {name: round(float(np.mean([raw[p][str(s)]["scores"][name][scheme]
                                       for p in protocols for s in subjects])), 4)
            for name in CANDIDATE_NAMES if name in names and name not in NON_DEFAULT}


def pick(raw, subjects, protocols):
    """The best candidate by :func:`dev_means` (the first listed among ties)."""
    means = dev_means(raw, subjects, protocols)
    return max(means, key=means.get), means


def criteria(raw, name, subjects):
    """The issue's targets for candidate ``name``, per protocol, on ``subjects``."""
    out = {}
    for protocol, per_subject in raw.items():
        def mean(n, scheme):
            return float(np.mean([per_subject[str(s)]["scores"][n][scheme] for s in subjects]))

        tokens = [n for n in present(per_subject, subjects) if n not in ("TS+LR", "CSP+LDA")]
        row = {}
        for scheme in ("folds42", "repeated"):
            best = max(tokens, key=lambda n: mean(n, scheme))
            acc, ref = mean(name, scheme), mean("TS+LR", scheme)
            row[scheme] = {"accuracy": round(acc, 4), "ts_lr": round(ref, 4),
                           "ratio_to_ts_lr": round(acc / ref, 3),
                           "best_token": best, "best_token_accuracy": round(mean(best, scheme), 4),
                           "meets_0.95_ts_lr": bool(acc >= 0.95 * ref),
                           "within_0.02_of_best_token": bool(acc >= mean(best, scheme) - 0.02)}
        out[protocol] = row
    return out


def run_stage(results, stage, names, codec, schemes, cache_dir, save):
    """Fill ``results["raw"][stage]`` subject by subject (saved after each one)."""
    raw = results.setdefault("raw", {}).setdefault(stage, {})
    for protocol in PROTOCOLS:
        for subject in SUBJECTS:
            t0 = time.perf_counter()
            entry = raw.setdefault(protocol, {}).setdefault(str(subject), {"scores": {}})
            res, t_tok, n = evaluate(subject, RUNS[stage], protocol, codec, schemes,
                                     cache_dir, names, entry["scores"])
            if res:
                entry["scores"].update(res)
                # the first (uncached) encoding is the cost worth keeping
                entry.update(tokenise_s=max(entry.get("tokenise_s") or 0.0, t_tok), n_epochs=n)
                save()
            print(f"{stage} {protocol} subject {subject}: {time.perf_counter() - t0:.0f} s",
                  flush=True)
    return raw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/default_features.json")
    parser.add_argument("--cache-dir", default="/tmp/bc_cache", help="token cache folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2,
                        help="repeats of the stratified 5-fold split of the 'repeated' scheme")
    parser.add_argument("--resume", action="store_true",
                        help="keep the scores already in --out, compute only missing ones")
    args = parser.parse_args(argv)

    os.environ.setdefault("MNE_DATA", str(Path(__file__).resolve().parents[2] / "shared/data"))
    import mne
    import torch
    from sklearn.exceptions import ConvergenceWarning

    from mne_biocodec.codec import atomic_write, load_codec

    torch.set_num_threads(args.threads)
    mne.set_log_level("error")
    # LogisticRegression() at its defaults stops at 100 iterations on unscaled features
    # ("spatial"): that is part of what is measured, not something to print 1000 times.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    codec = load_codec("biocodec-eeg", device="cpu")
    out = Path(args.out)
    results = json.loads(out.read_text()) if args.resume and out.exists() else {}
    if results.get("repeats", args.repeats) != args.repeats:
        raise ValueError(f"--resume with --repeats {args.repeats} but {out} was made with "
                         f"{results['repeats']}; use the same value or drop --resume.")
    results.update(repeats=args.repeats, threads=args.threads)
    for per_protocol in results.get("raw", {}).values():  # drop retired candidates
        for per_subject in per_protocol.values():
            for entry in per_subject.values():
                entry["scores"] = {n: v for n, v in entry["scores"].items()
                                   if n in CANDIDATE_NAMES}

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out) as tmp:
            tmp.write_text(json.dumps(results, indent=1))

    t_start = time.perf_counter()
    schemes = fold_schemes(args.repeats)
    imagined = run_stage(results, "imagined", CANDIDATE_NAMES, codec, schemes,
                         args.cache_dir, save)
    executed = run_stage(results, "executed", EXECUTED_SHORTLIST, codec, schemes,
                         args.cache_dir, save)

    selection = {}
    for rule, protocols in RULES.items():
        chosen, means = pick(imagined, DEV_SUBJECTS, protocols)
        # the rule applied without each subject in turn: a 5-subject estimate of the rule
        loso = {}
        for subject in SUBJECTS:
            name, _ = pick(imagined, [s for s in SUBJECTS if s != subject], protocols)
            loso[str(subject)] = {"chosen": name, **{
                p: imagined[p][str(subject)]["scores"][name]["folds42"] for p in imagined}}
        selection[rule] = {"protocols": list(protocols), "chosen": chosen,
                           "dev_means": dict(sorted(means.items(), key=lambda kv: -kv[1])),
                           "leave_one_subject_out": loso}
    checked = list(dict.fromkeys([sel["chosen"] for sel in selection.values()]
                                 + ["BioCodecTokenizer()+LR", "BioCodec+TS+LR",
                                    "decoded/TS"]))
    results.update({
        "protocols": {p: {"band_hz": s["band"], "epoch_s": [s["tmin"], s["tmax"]]}
                      for p, s in PROTOCOLS.items()},
        "subjects": SUBJECTS, "runs": RUNS, "metric": "accuracy",
        "classifier": "LogisticRegression() at its defaults except the non_default candidates",
        "non_default": list(NON_DEFAULT),
        "folds": {"folds42": "StratifiedKFold(5, shuffle=True, random_state=42)",
                  "repeated": f"RepeatedStratifiedKFold(5, n_repeats={args.repeats}, "
                              "random_state=0)"},
        "selection": {
            "rule": "best mean 'repeated' accuracy over the development subjects (imagined "
                    "runs) and the rule's protocols, among token candidates with "
                    "LogisticRegression() at its defaults",
            "development_subjects": DEV_SUBJECTS, "test_subject": TEST_SUBJECT, **selection},
        "criteria": {name: {"test_subject": criteria(imagined, name, [TEST_SUBJECT]),
                            "all_subjects": criteria(imagined, name, SUBJECTS)}
                     for name in checked},
        "imagined": summarise(imagined, SUBJECTS),
        "executed": summarise(executed, SUBJECTS),
    })
    results["wall_time_s"] = round(time.perf_counter() - t_start)  # this invocation
    # what a run from scratch spends on tokenising and on the candidates (--resume or not)
    results["compute_s"] = round(sum(
        (entry.get("tokenise_s") or 0.0)
        + sum(v["features_s"] + v["folds42_s"] + v["repeated_s"]
              for v in entry["scores"].values())
        for stage in results["raw"].values() for per_protocol in stage.values()
        for entry in per_protocol.values()))
    save()
    print_table("imagined runs", results["imagined"], "folds42")
    print_table("imagined runs", results["imagined"], "repeated")
    print_table("executed runs", results["executed"], "repeated")
    for rule, sel in selection.items():
        print(f"\n{rule}: chosen on subjects {DEV_SUBJECTS}: {sel['chosen']} "
              f"(dev mean {sel['dev_means'][sel['chosen']]:.3f}); leave one subject out: "
              f"{sel['leave_one_subject_out']}")
    for name, crit in results["criteria"].items():
        for subjects, per_protocol in crit.items():
            for protocol, row in per_protocol.items():
                r = row["folds42"]
                print(f"{name} {subjects} {protocol} (folds42): {r['accuracy']:.3f} = "
                      f"{r['ratio_to_ts_lr']:.2f} x TS+LR; best token {r['best_token']} "
                      f"{r['best_token_accuracy']:.3f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
