"""The token model: masking, scoring, files, resumable pretraining, estimator, MNE, generation.

Fast: tiny model configs, a few training steps on the shipped held-out sample recording.
"""

import json
import shutil

import mne
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from mne_biocodec.data import sample_path
from mne_biocodec.pretrained import list_pretrained
from mne_biocodec.tokenmodel import (TOKEN_MODEL_CONFIG, BioCodecTokenModel, TokenTransformer,
                                     annotate_unlikely, check_token_model_config, forecast,
                                     forecast_signal, load_token_model, pretrain_token_model,
                                     sample_mask, save_token_model, schedule_masks,
                                     token_log_likelihood)
from mne_biocodec.tokenmodel.data import recording_sequences
from mne_biocodec.tokenmodel.model import MAX_TOKEN_MODEL_PARAMS, token_model_size
from mne_biocodec.tokenmodel.pretrain import load_token_recipe
from test_estimators import API_CHECKS  # the checks that apply to 3-D estimators

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "dim_feedforward": 32, "max_frames": 128}
TRAIN = {"batch_size": 16, "steps_per_epoch": 2, "warmup_steps": 1, "lr": 1e-3,
         "progress": False}


@pytest.fixture(scope="module")
def token_codec():
    """The codec whose tokens the shipped token model reads (biocodec-eeg v1: the model was
    pretrained before v2 shipped, and the registry pins it)."""
    from mne_biocodec import load_codec
    from mne_biocodec.pretrained import pretrained_info

    return load_codec(pretrained_info("token-model-eeg")["codec"], device="cpu")


@pytest.fixture(scope="module")
def sample_raw():
    """40 s of 4 channels of the shipped held-out recording (S004R04)."""
    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose="error")
    return raw.pick(raw.ch_names[:4]).crop(0, 40)


@pytest.fixture(scope="module")
def sample_codes(sample_raw, token_codec):
    """Token sequences of its 4-s windows ``(40, 6, 83)``."""
    return recording_sequences(sample_raw, token_codec, window_seconds=4.0)


@pytest.fixture(scope="module")
def codec_info(token_codec):
    from mne_biocodec.pretrained import pretrained_info

    return {"name": token_codec.config["name"],
            "source": pretrained_info("token-model-eeg")["codec"], "modality": "eeg",
            "weights_sha256": token_codec.weights_sha256()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, sample_codes, codec_info):
    """A tiny model pretrained for 4 steps; its run folder."""
    out = tmp_path_factory.mktemp("token-run") / "run"
    torch.manual_seed(0)
    pretrain_token_model(sample_codes, out, valid_codes=sample_codes[:8], config=TINY,
                         max_epochs=2, codec_info=codec_info,
                         extra_metadata={"window_frames": 83}, **TRAIN)
    return out


@pytest.fixture(scope="module")
def tiny_file(tiny_run):
    return tiny_run / "token-model.safetensors"


@pytest.fixture(scope="module")
def sample_epochs(sample_raw):
    return mne.make_fixed_length_epochs(sample_raw, duration=4.0, preload=True,
                                        verbose="error")


@pytest.fixture(scope="module")
def fitted(tiny_file, sample_epochs):
    return BioCodecTokenModel(pretrained=tiny_file, max_epochs=1, batch_size=16,
                              random_state=0, device="cpu").fit(sample_epochs)


# -- the model --------------------------------------------------------------------------------
def test_default_model_size_and_shapes():
    model = TokenTransformer()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == token_model_size(model.config)
    assert 300_000 < n_params < 2_000_000  # a few hundred k to 2 M parameters
    assert n_params * 4 <= 20e6  # float32 weights <= 20 MB
    codes = torch.randint(0, 256, (3, 6, 50))
    mask = torch.zeros_like(codes, dtype=torch.bool)
    assert model(codes, mask).shape == (3, 6, 50, 256)
    assert model.contextualize(codes).shape == (3, 50, TOKEN_MODEL_CONFIG["d_model"])


@pytest.mark.parametrize("change, match", [
    ({"d_model": 30, "n_heads": 4}, "must be a multiple"),
    ({"span_min": 5, "span_max": 2}, "must not exceed"),
    ({"n_q": True}, r"config\['n_q'\] must be an int"),
    ({"dropout": float("nan")}, r"config\['dropout'\] must be a number"),
    ({"d_model": 2048, "dim_feedforward": 16384}, "at most 5,000,000 are allowed"),
    ({"colour": 1}, "unknown keys"),
])
def test_config_checked(change, match):
    with pytest.raises(ValueError, match=match):
        check_token_model_config(change)
    assert MAX_TOKEN_MODEL_PARAMS == 5_000_000


def test_training_mask_spans_and_depth():
    config = check_token_model_config({})
    generator = torch.Generator().manual_seed(0)
    mask = sample_mask(400, 6, 83, config, generator=generator)
    again = sample_mask(400, 6, 83, config, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)
    whole = mask.all(dim=1)  # frames with every level hidden
    assert 0.35 < whole.float().mean() < 0.55
    partial = mask.any(dim=1) & ~whole
    assert 0.04 < partial.float().mean() < 0.15
    # a partly hidden frame hides a suffix of levels: the coarse ones stay visible
    levels = mask.transpose(1, 2)[partial]
    assert not levels[:, 0].any()
    assert torch.equal(levels, levels.cummax(dim=1).values)
    # spans: whole-frame runs are longer than single frames on average
    starts = whole[:, 1:] & ~whole[:, :-1]
    assert whole.sum() / starts.sum().clamp(min=1) > 2.0


def test_schedule_covers_every_frame_once():
    masks = schedule_masks(6, 23, span=4, n_groups=2)
    assert masks.shape == (2, 6, 23)
    assert torch.equal(masks.sum(dim=0), torch.ones(6, 23, dtype=torch.long))
    assert masks[0, 0, :4].all() and not masks[0, 0, 4:8].any()
    with pytest.raises(ValueError, match="span must be a positive int"):
        schedule_masks(6, 23, span=0)


def test_log_likelihood_deterministic_and_batch_independent(tiny_file, sample_codes):
    model = load_token_model(tiny_file, device="cpu")
    log_prob, predicted = token_log_likelihood(model, sample_codes, batch_size=7)
    again, _ = token_log_likelihood(model, sample_codes[::-1].copy(), batch_size=40)
    assert log_prob.shape == sample_codes.shape and predicted.shape == sample_codes.shape
    assert (log_prob <= 0).all()
    torch.testing.assert_close(log_prob, again.flip(0), rtol=1e-5, atol=1e-5)


# -- files ------------------------------------------------------------------------------------
def test_save_load_round_trip(tiny_file, tmp_path, codec_info):
    model = load_token_model(tiny_file, device="cpu")
    assert model.codec_info["weights_sha256"] == codec_info["weights_sha256"]
    assert model.training_info["training"]["train_steps"] == 4
    path = save_token_model(model, tmp_path / "copy", codec_info)
    assert path.name == "copy.safetensors" and path.with_suffix(".json").is_file()
    loaded = load_token_model(path, device="cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def _copy(tiny_file, tmp_path):
    target = tmp_path / tiny_file.name
    shutil.copy(tiny_file, target)
    shutil.copy(tiny_file.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_tampered_weights_refused(tiny_file, tmp_path):
    target = _copy(tiny_file, tmp_path)
    with open(target, "r+b") as fid:
        fid.seek(-32, 2)
        fid.write(b"\x7f" * 8)
    with pytest.raises(ValueError, match="does not match the SHA-256 recorded"):
        load_token_model(target)


def test_tampered_sidecar_refused(tiny_file, tmp_path):
    target = _copy(tiny_file, tmp_path)
    sidecar = json.loads(target.with_suffix(".json").read_text())
    sidecar["config"]["d_model"] = 32  # the weights are of d_model 16
    target.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="do not match the config in its sidecar"):
        load_token_model(target)
    sidecar["config"] = {"d_model": 10 ** 6}
    target.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=r"Invalid config .* config\['d_model'\]"):
        load_token_model(target)
    target.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="has no sidecar"):
        load_token_model(target)


def test_codec_file_is_not_a_token_model():
    from mne_biocodec.pretrained import resolve_pretrained

    with pytest.raises(ValueError, match="Is this a codec file"):
        load_token_model(resolve_pretrained("biocodec-eeg")[0])
    with pytest.raises(FileNotFoundError, match="No token-model file or shipped model"):
        load_token_model("no-such-model")


# -- pretraining ------------------------------------------------------------------------------
def test_resume_matches_uninterrupted_run(tmp_path, sample_codes):
    torch.manual_seed(0)
    whole = pretrain_token_model(sample_codes, tmp_path / "run", config=TINY, max_epochs=3,
                                 **TRAIN)
    # an interruption during epoch 3: its checkpoint and the final model were never written
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "epoch-0003")
    (tmp_path / "run" / "checkpoints" / "LATEST").write_text("epoch-0002")
    (tmp_path / "run" / "token-model.safetensors").unlink()
    torch.manual_seed(123)  # the checkpoint restores torch's generator
    resumed = pretrain_token_model(sample_codes, tmp_path / "run", config=TINY, max_epochs=3,
                                   **TRAIN)
    assert resumed.resumed_from.name == "epoch-0002"
    assert len(resumed.history) == 3
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(value, resumed.model.state_dict()[key])


def test_foreign_or_other_run_folders_refused(tmp_path, tiny_run, sample_codes):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a token-model run folder"):
        pretrain_token_model(sample_codes, foreign, config=TINY, **TRAIN)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    other = dict(TINY, d_model=32)
    with pytest.raises(ValueError, match="is of another run"):
        pretrain_token_model(sample_codes, tiny_run, config=other, max_epochs=3, **TRAIN)


def test_codes_checked(tmp_path, sample_codes):
    with pytest.raises(ValueError, match="must hold 6 levels of codes in 0..255"):
        pretrain_token_model(sample_codes[:, :3], tmp_path / "x", config=TINY, **TRAIN)


def test_recipe_file_is_valid():
    recipe = load_token_recipe("recipes/token-model.json")
    assert recipe["split_version"] == "v2" and recipe["codec"] == "biocodec-eeg"
    size = token_model_size(check_token_model_config(recipe["config"]))
    assert size * 4 <= 20e6


# -- the estimator ----------------------------------------------------------------------------
def test_estimator_outputs(fitted, sample_epochs):
    n = len(sample_epochs)
    Z = fitted.transform(sample_epochs)
    assert Z.shape == (n, 16) and Z.dtype == np.float32
    scores = fitted.score_samples(sample_epochs)
    channels = fitted.score_samples_channels(sample_epochs)
    assert scores.shape == (n,) and channels.shape == (n, 4)
    np.testing.assert_allclose(scores, channels.mean(axis=1))
    assert np.all(scores < 0) and np.all(scores > -np.log(256) - 1.0)
    # deterministic, and arrays with sfreq give the Epochs' result
    np.testing.assert_array_equal(scores, fitted.score_samples(sample_epochs))
    np.testing.assert_allclose(scores, fitted.score_samples(sample_epochs.get_data()),
                               rtol=1e-6)
    assert fitted.history_ is not None and len(fitted.history_) == 1
    assert fitted.window_frames_ == 83 and fitted.n_features_in_ == 4
    assert fitted.score(sample_epochs) == pytest.approx(scores.mean())


def test_estimator_channel_pooling(tiny_file, sample_epochs):
    est = BioCodecTokenModel(pretrained=tiny_file, max_epochs=0, pooling="channels",
                             device="cpu").fit(sample_epochs)
    Z = est.transform(sample_epochs)
    assert Z.shape == (len(sample_epochs), 4 * 16)
    names = est.get_feature_names_out()
    assert len(names) == Z.shape[1] and names[0] == f"{sample_epochs.ch_names[0]}_embedding0"


def test_fit_without_training_does_not_tokenise(tiny_file, sample_epochs, monkeypatch):
    # the tiny model records its window: fit(max_epochs=0) has nothing to learn from codes,
    # so transform() tokenises the epochs once, not fit() and transform() each
    calls = []
    codes = BioCodecTokenModel._codes
    monkeypatch.setattr(BioCodecTokenModel, "_codes",
                        lambda self, X: calls.append(1) or codes(self, X))
    est = BioCodecTokenModel(pretrained=tiny_file, max_epochs=0, device="cpu")
    est.fit(sample_epochs)
    assert calls == [] and est.window_frames_ == 83
    assert est.transform(sample_epochs).shape == (len(sample_epochs), 16)
    assert calls == [1]


def test_estimator_long_epochs_in_pieces(fitted, sample_raw):
    X = sample_raw.get_data()[None, :, :int(12 * sample_raw.info["sfreq"])]
    # 12 s: 250 frames, scored as 3 pieces of about 83 frames
    scores = fitted.score_samples(X)
    assert scores.shape == (1,) and np.isfinite(scores).all()


def test_estimator_refuses_other_codec_and_config(tiny_file, tmp_path, sample_epochs,
                                                  codec_info):
    model = load_token_model(tiny_file, device="cpu")
    other = save_token_model(model, tmp_path / "other",
                             dict(codec_info, weights_sha256="0" * 64))
    with pytest.raises(ValueError, match="pretrained on the tokens of codec"):
        BioCodecTokenModel(pretrained=other, max_epochs=0).fit(sample_epochs)
    with pytest.raises(ValueError, match="Pass pretrained=None to train a new model"):
        BioCodecTokenModel(pretrained=tiny_file, config=TINY).fit(sample_epochs)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        BioCodecTokenModel(pretrained=tiny_file).transform(sample_epochs)


def test_estimator_from_scratch(sample_epochs):
    est = BioCodecTokenModel(pretrained=None, config=TINY, max_epochs=1, batch_size=16,
                             random_state=0, device="cpu").fit(sample_epochs)
    again = BioCodecTokenModel(pretrained=None, config=TINY, max_epochs=1, batch_size=16,
                               random_state=0, device="cpu").fit(sample_epochs)
    np.testing.assert_array_equal(est.transform(sample_epochs), again.transform(sample_epochs))
    assert est.transform(sample_epochs).shape == (len(sample_epochs), 16)


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda check: check.__name__)
def test_sklearn_api_checks(check):
    # scikit-learn's data checks build 2-D X; this estimator takes 3-D epochs (tag
    # three_d_array), so only the checks that need no data apply, as for the tokenizer
    estimator = BioCodecTokenModel(sfreq=160.0)
    check(type(estimator).__name__, estimator)
    assert estimator.get_params()["pretrained"] == "token-model-eeg"


def test_invalid_parameters_raise_at_fit(sample_epochs):
    with pytest.raises(ValueError, match="'pooling' parameter"):
        BioCodecTokenModel(pooling="max").fit(sample_epochs)
    with pytest.raises(ValueError, match="'max_epochs' parameter"):
        BioCodecTokenModel(max_epochs=-1).fit(sample_epochs)


# -- MNE integration --------------------------------------------------------------------------
def test_annotate_unlikely(fitted, sample_raw):
    annotations, scores = annotate_unlikely(sample_raw, fitted, window=4.0)
    assert isinstance(annotations, mne.Annotations)
    assert set(annotations.description) <= {"BAD_unlikely"}
    assert scores.score.shape == (19,) and scores.channel_scores.shape == (19, 4)
    median = np.median(scores.score)
    mad = np.median(np.abs(scores.score - median))
    assert scores.threshold == pytest.approx(median - 3.0 * 1.4826 * mad)
    assert scores.upper == pytest.approx(median + 3.0 * 1.4826 * mad)
    np.testing.assert_array_equal(scores.unlikely, (scores.score < scores.threshold)
                                  | (scores.score > scores.upper))
    _, low = annotate_unlikely(sample_raw, fitted, window=4.0, tail="low")
    assert low.upper == np.inf and low.threshold == scores.threshold
    np.testing.assert_array_equal(low.unlikely, scores.score < scores.threshold)
    with pytest.raises(ValueError, match="tail must be one of"):
        annotate_unlikely(sample_raw, fitted, tail="left")
    # every window below the threshold: one merged annotation over the whole recording
    everything, _ = annotate_unlikely(sample_raw, fitted, threshold=0.0)
    assert len(everything) == 1 and everything.description[0] == "BAD_unlikely"
    assert everything.duration[0] == pytest.approx(40.0, abs=0.01)
    raw = sample_raw.copy().set_annotations(everything)
    assert raw.annotations.onset[0] == pytest.approx(0.0, abs=0.01)
    nothing, _ = annotate_unlikely(sample_raw, fitted, threshold=-1e9)
    assert len(nothing) == 0
    with pytest.raises(ValueError, match="shorter than one window"):
        annotate_unlikely(sample_raw, fitted, window=100.0)


def test_annotate_flags_a_slow_swing(sample_raw, token_codec):
    """A 300 uV, 0.5 Hz swing (movement, sweat) on two of four channels for 8 s: the shipped
    model finds those windows atypically *predictable*; the default two-sided bounds
    annotate them and nothing else, the low tail alone misses them."""
    broken = sample_raw.copy().load_data()
    start, stop = broken.time_as_index([20.0, 28.0])
    times = np.arange(stop - start) / broken.info["sfreq"]
    broken._data[:2, start:stop] += 300e-6 * np.sin(2 * np.pi * 0.5 * times)
    model = BioCodecTokenModel(codec=token_codec, max_epochs=0)
    annotations, scores = annotate_unlikely(broken, model, window=4.0, step=2.0)
    flagged = scores.onset[scores.unlikely]
    assert len(flagged) >= 3 and np.all((flagged + 4.0 > 20.0) & (flagged < 28.0))
    assert np.all(scores.score[scores.unlikely] > scores.upper)
    assert len(annotations) == 1 and 16.0 <= annotations.onset[0] <= 20.0
    _, low = annotate_unlikely(broken, model, window=4.0, step=2.0, tail="low")
    assert not low.unlikely.any()


# -- generation -------------------------------------------------------------------------------
def test_forecast(fitted, sample_epochs):
    tokens = fitted.tokenizer_.encode(sample_epochs[:2])
    codes = forecast(fitted, tokens, 5, random_state=0)
    assert codes.shape == tokens.codes.shape[:3] + (tokens.codes.shape[-1] + 5,)
    assert codes.dtype == tokens.codes.dtype and codes.max() < 256
    np.testing.assert_array_equal(codes[..., :-5], tokens.codes)
    np.testing.assert_array_equal(codes, forecast(fitted, tokens, 5, random_state=0))
    greedy = forecast(fitted, tokens, 3, temperature=0)
    np.testing.assert_array_equal(greedy, forecast(fitted, tokens, 3, top_k=1,
                                                   random_state=1))
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        forecast(fitted, tokens, 3, temperature=-1)


def test_forecast_signal(fitted, sample_epochs):
    X = sample_epochs.get_data()[:1]
    signals, n_known = forecast_signal(fitted, X, 1.0, random_state=0)
    assert signals.shape[:2] == X.shape[:2] and np.isfinite(signals).all()
    # 1 s at 160 Hz after the known part (whole frames of 12 codec samples)
    assert signals.shape[-1] - n_known == pytest.approx(160, abs=4)
    assert n_known >= X.shape[-1]
    # the known part is the codec's reconstruction: same scale as the input
    ratio = signals[..., :n_known].std() / X.std()
    assert 0.3 < ratio < 3.0


def test_classifier_fine_tunes_the_token_model(tiny_file, sample_epochs):
    from mne_biocodec import BioCodecClassifier
    from mne_biocodec.tokenmodel import TokenModelHead

    y = np.arange(len(sample_epochs)) % 2
    clf = BioCodecClassifier(module=TokenModelHead, module__pretrained=tiny_file,
                             head="paper", max_epochs=2, batch_size=8, train_split=False,
                             random_state=0, device="cpu").fit(sample_epochs, y)
    assert clf.predict_proba(sample_epochs).shape == (len(sample_epochs), 2)
    start = load_token_model(tiny_file, device="cpu").state_dict()
    tuned = clf.module_.token_model.state_dict()
    # fine-tuned: the pretrained transformer moved (its unused output heads did not)
    assert not torch.equal(start["embedding.weight"], tuned["embedding.weight"])
    assert torch.equal(start["heads.weight"], tuned["heads.weight"])
    assert clf.n_trainable_params_ == sum(p.numel() for p in clf.module_.parameters())


# -- the shipped model ------------------------------------------------------------------------
@pytest.mark.skipif("token-model-eeg" not in list_pretrained(kind="token-model"),
                    reason="token-model-eeg is not shipped in this checkout")
def test_shipped_token_model(sample_epochs, token_codec):
    model = load_token_model("token-model-eeg", device="cpu")
    assert model.codec_info["weights_sha256"] == token_codec.weights_sha256()
    assert sum(p.numel() for p in model.parameters()) * 4 <= 20e6
    est = BioCodecTokenModel(max_epochs=0, device="cpu").fit(sample_epochs)
    scores = est.score_samples(sample_epochs)
    # better than a uniform guess over 256 codes, on a held-out recording
    assert np.mean(scores) > -np.log(256)


# -- command line -----------------------------------------------------------------------------
def test_cli_pretrain_token_model_refuses_bad_recipe(tmp_path, capsys):
    from mne_biocodec.cli import main

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"name": "x"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain-token-model", str(recipe), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "missing keys" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
