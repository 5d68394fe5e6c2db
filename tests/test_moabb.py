"""MOABB integration: the offline PhysionetMI, the pipelines and pipeline files, the benchmark.

Real data, offline. The end-to-end runs keep 8 sensorimotor channels and 3 folds so that
tokenising (most of the cost) stays a few seconds.
"""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("moabb")

from moabb.paradigms import LeftRightImagery, MotorImagery  # noqa: E402

from mne_biocodec import BioCodecClassifier  # noqa: E402
from mne_biocodec.moabb import (PIPELINES_DIR, CoherenceMatrices, OfflinePhysionetMI,  # noqa: E402
                                count_trainable_parameters, make_pipelines, pipeline_input,
                                run_benchmark, run_cross_subject, run_low_resource)

CHANNELS = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CPz", "CP4"]


@pytest.fixture(scope="module")
def lr_paradigm():
    """MOABB's left/right imagery defaults (8-32 Hz, 0-3 s) on 8 channels."""
    return LeftRightImagery(channels=CHANNELS)


@pytest.fixture(scope="module")
def lr_data(data_root, lr_paradigm):
    X, y, meta = lr_paradigm.get_data(OfflinePhysionetMI(), subjects=[1])
    return X, y


# -- dataset -----------------------------------------------------------------------------------
def test_offline_physionet_reads_only_present_runs(data_root):
    ds = OfflinePhysionetMI()
    assert ds.subject_list == [1, 2, 3, 4, 5]
    assert ds.present_runs(1) == [4, 8, 12, 6, 10, 14]
    assert ds.present_runs(3) == [4, 8, 12]
    X, y, meta = LeftRightImagery().get_data(ds, subjects=[1, 2, 3, 4, 5])
    assert X.shape == (225, 64, 481)  # 45 trials x 64 channels x 3 s at 160 Hz
    assert meta.groupby("subject").size().to_dict() == {s: 45 for s in range(1, 6)}
    assert set(y) == {"left_hand", "right_hand"}
    assert sorted(meta["run"].unique()) == ["0", "1", "2"]  # MOABB's names of runs 4, 8, 12
    # all four imagery classes of subject 1 (the only one with the hands/feet runs here)
    X4, y4, _ = MotorImagery(events=["left_hand", "right_hand", "feet", "hands"],
                             n_classes=4).get_data(ds, subjects=[1])
    assert sorted(set(y4)) == ["feet", "hands", "left_hand", "right_hand"]
    assert len(y4) == 90


def test_offline_physionet_never_downloads(data_root, tmp_path):
    ds = OfflinePhysionetMI(subjects=[2])
    with pytest.raises(FileNotFoundError, match="S002R06.edf"):
        ds._load_data(2, [6])
    assert ds.data_path(2)[0].endswith("S002R01.edf")
    with pytest.raises(FileNotFoundError, match="EEGMMI subject 1"):
        OfflinePhysionetMI(subjects=[1], path=tmp_path)
    assert OfflinePhysionetMI(path=tmp_path).subject_list == []
    with pytest.raises(ValueError, match="1-109"):
        OfflinePhysionetMI(subjects=[200])


# -- pipelines ---------------------------------------------------------------------------------
def test_pipeline_files_load_with_moabb():
    from moabb.pipelines.utils import generate_paradigms, parse_pipelines_from_directory

    # no module of the package shadows the folder (pipelines.py did shadow pipelines/)
    assert not (PIPELINES_DIR.parent / f"{PIPELINES_DIR.name}.py").exists()
    configs = parse_pipelines_from_directory(str(PIPELINES_DIR))
    assert len(configs) == len(list(PIPELINES_DIR.glob("*.py"))) == 5
    names = {c["name"] for c in configs}
    assert names == {"BioCodec+LR", "BioCodec+TS+LR", "BioCodecClassifier", "BioCodec-FB+LR",
                     "BioCodec-Ext+TS+LR"}
    paradigms = generate_paradigms(configs)
    assert set(paradigms["LeftRightImagery"]) == {"BioCodec+LR", "BioCodec+TS+LR",
                                                  "BioCodecClassifier"}
    assert set(paradigms["FilterBankSSVEP"]) == {"BioCodec-FB+LR", "BioCodec-Ext+TS+LR"}
    for config in configs:
        params = config["pipeline"].get_params()
        rates = [v for k, v in params.items() if k.endswith("sfreq")]
        assert rates and all(r == 250.0 for r in rates), config["name"]


def test_make_pipelines_and_inputs():
    imagery = make_pipelines("LeftRightImagery", sfreq=160.0)
    assert list(imagery) == ["BioCodec+LR", "BioCodec+TS+LR", "BioCodecClassifier",
                             "CSP+LDA", "TS+LR"]
    assert {pipeline_input(p) for p in imagery.values()} == {"array"}
    # the decoded pipeline (by name only: decoding every epoch costs about a tokenisation
    # pass) is MOABB's TS+LR after a decoding tokenizer
    decoded = make_pipelines("imagery", sfreq=160.0,
                             names=["BioCodec-Decoded+TS+LR"])["BioCodec-Decoded+TS+LR"]
    assert pipeline_input(decoded) == "array"
    assert decoded.named_steps["tokens"].output == "decoded"
    assert [n for n, _ in decoded.steps[1:]] == [n for n, _ in imagery["TS+LR"].steps]
    ssvep = make_pipelines("SSVEP", sfreq=256.0, names=["BioCodec-FB+LR", "BioCodec-Ext+TS+LR",
                                                        "BioCodec-Decoded-Ext+TS+LR",
                                                        "SSVEP_TS+LR", "SSVEP_CCA", "TS+LR"])
    assert [pipeline_input(p) for p in ssvep.values()] == ["filterbank", "filterbank",
                                                          "filterbank", "filterbank",
                                                          "epochs", "array"]
    cached = make_pipelines("ssvep", sfreq=256.0, cache_dir="tok-cache",
                            names=["BioCodec+LR", "BioCodec-FB+LR"])
    assert cached["BioCodec+LR"].named_steps["tokens"].cache == "tok-cache"
    assert cached["BioCodec-FB+LR"].named_steps["tokens"].estimator.cache == "tok-cache"
    # MOABB's reference settings
    assert imagery["CSP+LDA"].named_steps["csp"].nfilter == 6
    assert imagery["TS+LR"].named_steps["cov"].estimator == "oas"
    assert imagery["TS+LR"].named_steps["lr"].C == 1.0
    # the classifier MOABB scores is the one a user gets: its own defaults, not a shortened
    # training (it once ran 20 epochs, the paper head's recipe, against the default's 60)
    scored = imagery["BioCodecClassifier"].named_steps["clf"].get_params(deep=False)
    defaults = BioCodecClassifier().get_params(deep=False)
    for set_by_the_run in ("sfreq", "random_state", "cache"):
        scored.pop(set_by_the_run), defaults.pop(set_by_the_run)
    assert scored == defaults
    assert make_pipelines("imagery", sfreq=160.0, classifier_params={"max_epochs": 5})[
        "BioCodecClassifier"].named_steps["clf"].max_epochs == 5
    with pytest.raises(ValueError, match="unknown pipeline names"):
        make_pipelines("imagery", names=["EEGNet"])
    with pytest.raises(ValueError, match="paradigm must be one of"):
        make_pipelines("P300")


def _flat_to_matrices(feats, n, shrinkage=0.01):
    """The layout the flat "spatial" features had to be un-flattened from (the former
    CoherenceMatrices(use_scale=True, normalize=True)): upper-triangle coherences, then
    log10 scales."""
    upper = np.triu_indices(n, 1)
    feats = np.asarray(feats, dtype=np.float64)
    mats = np.broadcast_to(np.eye(n), (len(feats), n, n)).copy()
    mats[:, upper[0], upper[1]] = mats[:, upper[1], upper[0]] = feats[:, :len(upper[0])]
    mats = (1.0 - shrinkage) * mats + shrinkage * np.eye(n)
    scale = 10.0 ** feats[:, len(upper[0]):]
    mats *= scale[:, :, None] * scale[:, None, :]
    return mats / (np.trace(mats, axis1=1, axis2=2)[:, None, None] / n)


def test_coherence_matrices_and_parameter_counts(lr_data, default_codec):
    from mne_biocodec import BioCodecTokenizer

    X, y = lr_data
    X = X[:12]
    n = len(CHANNELS)
    tok = BioCodecTokenizer(codec=default_codec, sfreq=160.0, output="coherence").fit(X)
    tokens = tok.encode(X)
    scaled = tok.transform_tokens(tokens)
    assert scaled.shape == (12, n, n)
    cm = CoherenceMatrices().fit(scaled)
    assert cm.n_chans_ == n
    mats = cm.transform(scaled)
    np.testing.assert_allclose(mats, np.swapaxes(mats, 1, 2))
    assert np.linalg.eigvalsh(mats).min() > 0
    corr = CoherenceMatrices().fit_transform(tok.set_params(log_scale=False).transform_tokens(
        tokens))
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0)
    normed = CoherenceMatrices(normalize=True).fit_transform(scaled)
    np.testing.assert_allclose(np.trace(normed, axis1=1, axis2=2), n)
    np.testing.assert_allclose(normed / normed[:, :1, :1], mats / mats[:, :1, :1])
    # BioCodec+TS+LR sees what it saw when the matrices were rebuilt from the flat features
    flat = tok.set_params(output="spatial", log_scale=True).fit(X).transform_tokens(tokens)
    np.testing.assert_allclose(normed, _flat_to_matrices(flat, n), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"coherence matrices \(n_epochs, n_chans, n_chans\); "
                       r"got shape \(12, 36\)"):
        CoherenceMatrices().fit(flat)
    with pytest.raises(ValueError, match=r"shape \(n_epochs, 8, 8\) as in fit; got \(12, 7, 7\)"):
        cm.transform(scaled[:, 1:, 1:])
    with pytest.raises(ValueError, match="positive diagonal"):
        cm.transform(-scaled)
    with pytest.raises(ValueError, match=r"shrinkage must be in \[0, 1\); got 1.5"):
        CoherenceMatrices(shrinkage=1.5).fit(scaled)

    ts_lr = make_pipelines("imagery", names=["TS+LR"])["TS+LR"].fit(lr_data[0], lr_data[1])
    assert count_trainable_parameters(ts_lr) == n * (n + 1) // 2 + 1  # coef_ + intercept_
    csp = make_pipelines("imagery", names=["CSP+LDA"])["CSP+LDA"].fit(lr_data[0], lr_data[1])
    assert count_trainable_parameters(csp) == 6 * n + 6 + 1  # filters_, coef_, intercept_


# -- benchmark end to end ----------------------------------------------------------------------
def _check_outputs(paths, n_rows, pipelines):
    scores = pd.read_csv(paths["csv"])
    assert len(scores) == n_rows
    assert set(scores["pipeline"]) == set(pipelines)
    payload = json.loads(paths["json"].read_text())
    assert {row["pipeline"] for row in payload["summary"]} == set(pipelines)
    table = paths["md"].read_text()
    assert all(f"| {name} |" in table for name in pipelines)
    assert paths["png"].stat().st_size > 5000
    return scores, payload


def test_run_benchmark_physionet_within_session(data_root, lr_paradigm, tmp_path):
    result = run_benchmark("PhysionetMI", lr_paradigm, subjects=[1],
                           pipelines=["BioCodec+LR", "TS+LR"], n_splits=3,
                           output_dir=tmp_path, verbose=False)
    scores, payload = _check_outputs(result["paths"], 2, ["BioCodec+LR", "TS+LR"])
    assert scores["score"].between(0.0, 1.0).all()
    # eegmmidb subject 1: the codec saw its executed/baseline runs, not these imagery runs
    assert scores["codec_saw_subject"].all()
    assert "never the imagery runs" in result["table"]
    assert payload["config"]["metric"] == "roc_auc"
    assert payload["config"]["paradigm_settings"]["filters"] == [[8, 32]]
    n = len(CHANNELS)
    assert result["summary"].loc["TS+LR", "n_params"] == n * (n + 1) // 2 + 1
    assert result["summary"].loc["BioCodec+LR", "n_params"] == n * (n - 1) // 2 + n + 1
    # a clearly decodable subject: both well above chance
    assert (scores["score"] > 0.7).all()
    with pytest.raises(ValueError, match="at least 2 sessions"):
        run_benchmark("PhysionetMI", lr_paradigm, subjects=[1], evaluation="cross-session",
                      output_dir=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="evaluation must be one of"):
        run_benchmark(evaluation="within-subject", output_dir=tmp_path)


def test_cli_benchmark_kalunga_ssvep(data_root, tmp_path, capsys):
    from mne_biocodec.cli import main

    pipelines = ["BioCodec+LR", "BioCodec-Ext+TS+LR", "SSVEP_TS+LR", "SSVEP_CCA"]
    status = main(["benchmark", "--dataset", "Kalunga2016", "--paradigm", "SSVEP",
                   "--n-classes", "3", "--subjects", "1", "--pipelines", *pipelines,
                   "--n-splits", "3", "--out", str(tmp_path)])
    assert status == 0
    stem = tmp_path / "Kalunga2016_SSVEP-3class_within-session"
    paths = {"csv": tmp_path / f"{stem.name}_scores.csv", "json": stem.with_suffix(".json"),
             "md": stem.with_suffix(".md"), "png": stem.with_suffix(".png")}
    scores, payload = _check_outputs(paths, len(pipelines), pipelines)
    assert payload["config"]["classes"] == ["13", "17", "21"]
    # CCA needs no training and finds the stimulation frequency well above chance (1/3); so
    # do the token coherence of the stacked bands (0.73 on 5 folds of this subject)
    assert scores.set_index("pipeline").loc["SSVEP_CCA", "score"] > 0.5
    assert scores.set_index("pipeline").loc["BioCodec-Ext+TS+LR", "score"] > 0.5
    # the filter-bank pipeline saw all three bands (MOABB 1.7's evaluation would pass one):
    # the same protocol by hand on FilterBankSSVEP's data gives the same score
    from moabb.datasets import Kalunga2016
    from moabb.paradigms import FilterBankSSVEP
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y, _ = FilterBankSSVEP(n_classes=3).get_data(Kalunga2016(), subjects=[1])
    assert X.shape[-1] == 3
    expected = cross_val_score(make_pipelines("ssvep", names=["SSVEP_TS+LR"])["SSVEP_TS+LR"],
                               X, y, cv=StratifiedKFold(3, shuffle=True, random_state=42))
    np.testing.assert_allclose(scores.set_index("pipeline").loc["SSVEP_TS+LR", "score"],
                               expected.mean(), rtol=1e-6)
    assert "SSVEP_CCA" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:
        main(["benchmark", "--dataset", "NoSuchDataset", "--out", str(tmp_path)])
    assert err.value.code == 2


def test_cross_subject_folds_and_low_resource_curve(data_root, lr_paradigm, tmp_path):
    pipelines = ["BioCodec+LR", "TS+LR"]
    cross = run_cross_subject("PhysionetMI", lr_paradigm, subjects=[1, 2],
                              pipelines=pipelines, output_dir=tmp_path, verbose=False)
    scores = cross["scores"]
    assert len(scores) == 4 and sorted(scores["fold"].unique()) == [0, 1]
    assert {tuple(t) for t in scores["test_subjects"]} == {(1,), (2,)}
    for metric in ("balanced_accuracy", "cohen_kappa", "f1_weighted", "roc_auc"):
        assert scores[metric].between(-1.0, 1.0).all()
    assert "Cohen's kappa" in cross["table"] and "n folds" in cross["table"]

    # BioCodec+TS+LR's head gets the tokenizer's coherence matrices of the shared tokens
    low = run_low_resource("PhysionetMI", lr_paradigm, subjects=[1],
                           pipelines=[*pipelines, "BioCodec+TS+LR"], n_per_class=(5, 10),
                           n_perms=2, output_dir=tmp_path, verbose=False)
    rows = low["scores"]
    assert len(rows) == 3 * 2 * 2  # pipelines x sizes x permutations
    assert rows["score"].between(0.0, 1.0).all()
    assert set(rows["n_train"]) == {10, 20}
    # the same splits for every pipeline: one fixed test set per permutation
    tests = rows.groupby("permutation")["test_trials"].nunique()
    assert (tests == 1).all() and rows["test_trials"].nunique() == 2
    assert low["paths"]["png"].is_file()
    with pytest.raises(ValueError, match="do not fit"):
        run_low_resource("PhysionetMI", lr_paradigm, subjects=[1], pipelines=["TS+LR"],
                         n_per_class=(5, 30), output_dir=tmp_path, verbose=False)
