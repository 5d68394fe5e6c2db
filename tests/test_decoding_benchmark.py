"""``benchmarks/decoding.py``'s readings: ``--compare`` (issue 16's shipping rule) compares two
runs only on the splits both scored; the low-resource lead is one pair of pipelines'."""

import pytest


@pytest.fixture(scope="module")
def decoding(load_script):
    """The benchmark module ``benchmarks/decoding.py`` (its imports are light)."""
    return load_script("benchmarks/decoding.py")


def _record(scores, n_train=(36, 36), n_test=(9, 9), pipelines=None):
    """One row, a unit per key of ``scores``, a fold per score."""
    pipelines = pipelines or {"BioCodecTokenizer()+LR": "token", "TS+LR": "classic"}
    units = {}
    for unit, by_pipeline in scores.items():
        units[unit] = {"n_train": list(n_train), "n_test": list(n_test), "pipelines": {
            name: {"folds": [{"roc_auc": s, "seconds": 1.0} for s in values]}
            for name, values in by_pipeline.items()}}
    return {"tasks": {"mi_lr": {"config": {"metric": "roc_auc", "pipelines": {
        name: {"family": family} for name, family in pipelines.items()}}, "units": units}}}


def test_compare_flags_drops_beyond_the_standard_error(decoding):
    base = _record({"1": {"BioCodecTokenizer()+LR": [0.8, 0.8], "TS+LR": [0.9, 0.9]},
                    "2": {"BioCodecTokenizer()+LR": [0.6, 0.6], "TS+LR": [0.7, 0.7]}})
    # base: mean 0.70 over the two subjects, standard error 0.10
    small = _record({"1": {"BioCodecTokenizer()+LR": [0.75, 0.75]},
                     "2": {"BioCodecTokenizer()+LR": [0.6, 0.6]}})
    large = _record({"1": {"BioCodecTokenizer()+LR": [0.5, 0.5]},
                     "2": {"BioCodecTokenizer()+LR": [0.6, 0.6]}})
    for candidate, worse in ((small, False), (large, True)):
        rows, skipped = decoding.compare_records(base, candidate)
        assert not skipped
        # the pipeline, then the row's best token pipeline; classic pipelines are not compared
        assert [r["pipeline"] for r in rows] == [
            "BioCodecTokenizer()+LR",
            "best token pipeline (BioCodecTokenizer()+LR -> BioCodecTokenizer()+LR)"]
        assert rows[0]["se"] == pytest.approx(0.1)
        assert [r["worse"] for r in rows] == [worse, worse]
    table = decoding.compare_table(rows, skipped)
    assert "| mi_lr | BioCodecTokenizer()+LR | 70.0 | 55.0 | -15.0 (10.0) | **yes** |" in table
    assert table.endswith("\nverdict: would not ship: 1 token pipeline(s) worse by more than the "
                          "base's standard error; row by row (each row's best token pipeline): "
                          "1 worse\n")
    assert decoding.compare_verdict(decoding.compare_records(base, small)[0]).startswith(
        "no token pipeline worse")


def test_compare_refuses_runs_on_other_splits(decoding):
    """Another --draws gives other splits: the row is left out, with the reason, rather than
    compared mean against mean."""
    base = _record({"1": {"BioCodecTokenizer()+LR": [0.8, 0.8]}})
    other = _record({"1": {"BioCodecTokenizer()+LR": [0.5] * 4}}, n_train=(10,) * 4,
                    n_test=(35,) * 4)
    rows, skipped = decoding.compare_records(base, other)
    assert rows == []
    assert skipped == [("mi_lr", "unit 1 has 2 splits in the base run and 4 in the candidate, "
                                 "or splits of other sizes; rerun one with the other's "
                                 "settings (e.g. --draws)")]
    assert ("\nnot compared: mi_lr: " + skipped[0][1] + "\nverdict: ") in decoding.compare_table(
        rows, skipped)


def test_low_resource_lead_is_one_pair_of_pipelines(decoding):
    """Each subject's best token pipeline would lead here (a maximum of two noisy scores); the
    row's best token pipeline does not lead on subject 2."""
    families = {"A": "token", "B": "token", "TS+LR": "classic"}
    entry = _record({"1": {"A": [0.9], "B": [0.6], "TS+LR": [0.7]},
                     "2": {"A": [0.6], "B": [0.8], "TS+LR": [0.7]}},
                    n_train=(10,), n_test=(35,), pipelines=families)["tasks"]["mi_lr"]
    token, classic, leads = decoding._per_unit_lead(entry, None)
    assert (token, classic) == ("A", "TS+LR")
    assert leads == pytest.approx({"1": 0.2, "2": -0.1})
