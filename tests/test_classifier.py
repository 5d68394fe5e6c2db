"""BioCodecClassifier's heads: the default learns motor imagery from tens of trials, the
paper's head is kept as it was (issue 19)."""

import dataclasses
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
from mne_biocodec.estimators.head import TokenCovarianceHead, TokenTransformerHead


# Central channels carry motor imagery; 21 of them keep the tokenisation fast.
MI_CHANNELS = ["FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5", "C3", "C1", "Cz", "C2",
               "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"]


@pytest.fixture(scope="module")
def mi_tokens(data_root, default_codec):
    """Imagined left vs right fist of eegmmidb subject 4 (runs 4, 8, 12), 45 epochs of 0-4 s,
    21 central channels, 8-30 Hz: tokenised once; labels and signals."""
    from mne_biocodec.datasets import load_eegmmidb_epochs

    epochs = load_eegmmidb_epochs(4, task="left_right", tmin=0.0, tmax=4.0, l_freq=8.0,
                                  h_freq=30.0, path=data_root).pick(MI_CHANNELS)
    tokens = BioCodecTokenizer(codec=default_codec, output="codes").fit(epochs).encode(epochs)
    inv = {v: k for k, v in epochs.event_id.items()}
    y = np.array([inv[c] for c in epochs.events[:, 2]])
    return tokens, y, epochs.get_data()


def _subset(tokens, index):
    return dataclasses.replace(tokens, codes=tokens.codes[index],
                               center=tokens.center[index], scale=tokens.scale[index])


def _cv_auc(make, tokens, X, y, use_tokens):
    """Mean ROC AUC over MOABB's within-session folds (5-fold, shuffled, seed 42)."""
    aucs = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=42).split(X, y):
        est = make()
        if use_tokens:
            est.fit(_subset(tokens, train), y[train])
            proba = est.predict_proba(_subset(tokens, test))[:, 1]
        else:
            est.fit(X[train], y[train])
            proba = est.predict_proba(X[test])[:, 1]
        aucs.append(roc_auc_score(y[test] == est.classes_[1], proba))
    return float(np.mean(aucs))


def test_default_classifier_beats_csp_lda(mi_tokens, default_codec):
    """Issue 19's floor: the default classifier above CSP+LDA on held-out folds of one
    subject (the same folds, MOABB's within-session ones)."""
    from mne_biocodec.moabb import make_pipelines

    tokens, y, X = mi_tokens
    csp_lda = make_pipelines("LeftRightImagery", sfreq=160.0, names=["CSP+LDA"])["CSP+LDA"]
    csp_auc = _cv_auc(lambda: clone(csp_lda), tokens, X, y, use_tokens=False)
    clf_auc = _cv_auc(lambda: BioCodecClassifier(codec=default_codec, random_state=0,
                                                 device="cpu"),
                      tokens, X, y, use_tokens=True)
    print(f"5-fold AUC: default classifier {clf_auc:.3f}, CSP+LDA {csp_auc:.3f}")
    # measured on these folds: CSP+LDA 0.76 (TS+LR 0.73); the classifier 0.83 with seed 0
    # and shrinkage "auto" (0.82 with the former 0.5; 0.85, 0.81, 0.81, 0.79 with seeds 1-4
    # then). Fixed seeds make the run deterministic.
    assert clf_auc > csp_auc
    assert clf_auc >= 0.78


def test_default_head_is_small_and_stored_untouched(mi_tokens, default_codec):
    tokens, y, _ = mi_tokens
    clf = BioCodecClassifier(codec=default_codec, random_state=0, device="cpu")
    params = clf.get_params()
    assert (params["head"], params["lr"], params["max_epochs"],
            params["train_split"]) == ("covariance", None, None, None)
    clf.fit(tokens, y)
    assert isinstance(clf.module_, TokenCovarianceHead)
    n_chans = tokens.codes.shape[1]
    assert clf.n_trainable_params_ == (n_chans * (n_chans + 1) // 2 + n_chans) * 2 + 2
    # all six codebooks tokenised (the tokenizer's cache entries serve), the first two summed
    assert clf.tokenizer_.n_q_ == 6 and clf.module_.n_q == 2 and len(clf.history) == 60
    assert clf.module_.shrinkage == "auto"
    # the parameters stay as given: fit resolved them without storing the resolution
    assert clf.get_params()["lr"] is None and clf.get_params()["max_epochs"] is None
    # predictions do not depend on the batch they come in (evaluation uses every frame)
    proba = clf.predict_proba(tokens)
    np.testing.assert_allclose(clf.predict_proba(_subset(tokens, np.arange(5))), proba[:5],
                               rtol=1e-5, atol=1e-6)


#: TokenTransformerHead for 21 channels, 6 codebooks of 256 x 16, use_scale: the paper head's
#: size before issue 19 (head.py at commit c2939d7; 101,986 for 64 channels).
PAPER_HEAD_PARAMS_21_CHANS = 54_514


def test_paper_head_is_unchanged(mi_tokens, default_codec):
    tokens, y, _ = mi_tokens
    clf = BioCodecClassifier(codec=default_codec, head="paper", max_epochs=1,
                             random_state=0, device="cpu")
    paper = BioCodecClassifier(head="paper")
    # the former defaults: learning rate, epochs, all codebooks
    assert (paper.head_default("lr"), paper.head_default("max_epochs"),
            paper.get_params()["n_q"]) == (1e-3, 20, None)
    clf.fit(tokens, y)
    assert type(clf.module_) is TokenTransformerHead
    assert clf.n_trainable_params_ == PAPER_HEAD_PARAMS_21_CHANS
    assert clf.tokenizer_.n_q_ == 6
    # the paper's recipe: a stratified fifth held out for model selection
    assert len(clf.history[-1, "batches"]) > 0 and "valid_bacc" in clf.history[-1]
    assert clf.predict_proba(tokens).shape == (len(y), 2)


@pytest.mark.parametrize("head", ["transformer", "Paper", None, 3])
def test_invalid_head_refused(mi_tokens, default_codec, head):
    tokens, y, _ = mi_tokens
    clf = BioCodecClassifier(codec=default_codec, head=head)
    assert clf.get_params()["head"] is head  # stored untouched, checked in fit
    with pytest.raises(ValueError, match=r"head must be one of \['covariance', 'paper'\]; "
                                         rf"got {head!r}"):
        clf.fit(tokens, y)


def test_finetune_codec_needs_paper_head(mi_tokens, default_codec):
    _, y, X = mi_tokens
    with pytest.raises(ValueError, match="finetune_codec=True .* Pass head='paper'"):
        BioCodecClassifier(codec=default_codec, sfreq=160.0, finetune_codec=True).fit(
            X[:8], y[:8])


def test_covariance_head_matches_token_coherence(mi_tokens, default_codec):
    """The head's covariance is the tokenizer's coherence matrix, normalised and shrunk."""
    from mne_biocodec.estimators.features import token_coherence

    tokens, _, _ = mi_tokens
    n_chans = tokens.codes.shape[1]
    head = TokenCovarianceHead(n_chans, 2, n_q=6, codebooks=default_codec.codebook_vectors(6),
                               n_codebooks=6, shrinkage=0.0).eval()
    log_scale = torch.as_tensor(np.log10(tokens.scale[:4, :, 0]), dtype=torch.float32)
    mats = head.covariances(torch.as_tensor(tokens.codes[:4].astype(np.int64)), log_scale)
    expected = token_coherence(_subset(tokens, np.arange(4)), default_codec)
    expected /= np.trace(expected, axis1=1, axis2=2)[:, None, None] / n_chans
    np.testing.assert_allclose(mats.numpy(), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="crop must be in"):
        TokenCovarianceHead(n_chans, 2, crop=0.0)


@pytest.mark.parametrize("shrinkage", [1.5, -0.1, "oas", True, None, np.float32(2.0)])
def test_covariance_head_refuses_bad_shrinkage(shrinkage):
    with pytest.raises(ValueError, match=r"shrinkage must be 'auto' or a number in \[0, 1\); "
                                         f"got {re.escape(repr(shrinkage))}"):
        TokenCovarianceHead(4, 2, shrinkage=shrinkage)


def test_auto_shrinkage_follows_channels_per_frame(mi_tokens, default_codec):
    """``shrinkage="auto"`` is ``n_chans / (n_chans + n_frames)``, in the head and in
    :func:`token_covariances` alike."""
    from mne_biocodec.estimators.features import auto_shrinkage, token_covariances

    assert auto_shrinkage(64, 42) == pytest.approx(0.604, abs=1e-3)
    assert auto_shrinkage(19, 84) == pytest.approx(0.184, abs=1e-3)
    tokens, _, _ = mi_tokens
    sub = _subset(tokens, np.arange(3))
    n_chans, n_frames = tokens.codes.shape[1], tokens.codes.shape[3]
    weight = auto_shrinkage(n_chans, n_frames)
    np.testing.assert_allclose(token_covariances(sub, default_codec, shrinkage="auto"),
                               token_covariances(sub, default_codec, shrinkage=weight))
    with pytest.raises(ValueError, match=r"shrinkage must be 'auto' or a number in \[0, 1\]; "
                                         "got 'oas'"):
        token_covariances(sub, default_codec, shrinkage="oas")
    codes = torch.as_tensor(sub.codes.astype(np.int64))
    log_scale = torch.as_tensor(np.log10(sub.scale[:, :, 0]), dtype=torch.float32)
    heads = [TokenCovarianceHead(n_chans, 2, codebooks=default_codec.codebook_vectors(6),
                                 shrinkage=value).eval() for value in ("auto", weight)]
    torch.testing.assert_close(heads[0].covariances(codes, log_scale),
                               heads[1].covariances(codes, log_scale))


def test_covariance_head_reuses_vectors_until_its_buffers_change():
    torch.manual_seed(0)
    head = TokenCovarianceHead(n_chans=5, n_outputs=2, n_q=2, codebook_size=8, d_model=4)
    codes = torch.randint(0, 8, (6, 5, 2, 30))
    log_scale = torch.randn(6, 5)
    first = head.tangent_vectors(codes, log_scale)
    # the same epochs in another batch order: the stored vectors, equal to recomputing
    order = torch.tensor([3, 0, 5])
    torch.testing.assert_close(head.tangent_vectors(codes[order], log_scale[order]),
                               first[order], rtol=0, atol=0)
    torch.testing.assert_close(first, head._compute_tangent_vectors(codes, log_scale))
    # a new reference point (a buffer changed in place): computed again, not reused
    head.set_reference(codes[:3], log_scale[:3])
    again = head.tangent_vectors(codes, log_scale)
    torch.testing.assert_close(again, head._compute_tangent_vectors(codes, log_scale))
    assert not torch.allclose(again, first)
    # random crops in training are never reused
    head.crop = 0.5
    head.train()
    assert not torch.equal(head.tangent_vectors(codes, log_scale),
                           head.tangent_vectors(codes, log_scale))


def _gained(tokens, gains):
    """The same tokens recorded with per-channel amplifier gains (scales multiplied)."""
    return dataclasses.replace(tokens, scale=tokens.scale * gains[None, :, None],
                               center=tokens.center * gains[None, :, None])


def test_recentring_removes_a_subjects_channel_gains(mi_tokens, default_codec):
    """Per-group re-centring (recenter/groups): a subject recorded with other per-channel
    gains is predicted exactly as if recorded with the training gains."""
    tokens, y, _ = mi_tokens
    n = len(y)
    gains = np.linspace(0.5, 2.0, tokens.codes.shape[1])
    both = dataclasses.replace(
        tokens, codes=np.concatenate([tokens.codes, tokens.codes]),
        scale=np.concatenate([tokens.scale, _gained(tokens, gains).scale]),
        center=np.concatenate([tokens.center, tokens.center]))
    groups = np.repeat(["a", "b"], n)
    labels = np.concatenate([y, y])
    clf = BioCodecClassifier(codec=default_codec, random_state=0, device="cpu",
                             max_epochs=5).fit(both, labels, groups=groups)
    assert clf.recentred_ and clf.get_params()["recenter"] is None
    plain = clf.predict_proba(tokens, groups=np.zeros(n))
    np.testing.assert_allclose(clf.predict_proba(_gained(tokens, 3.0 * gains[::-1]),
                                                 groups=np.zeros(n)), plain, atol=1e-5)
    # without re-centring the gains change the predictions
    ref = BioCodecClassifier(codec=default_codec, random_state=0, device="cpu",
                             max_epochs=5).fit(both, labels)
    assert not np.allclose(ref.predict_proba(_gained(tokens, 3.0 * gains[::-1])),
                           ref.predict_proba(tokens), atol=1e-3)
    with pytest.raises(ValueError, match="fitted with re-centring per group: pass groups"):
        clf.predict(tokens)
    with pytest.raises(ValueError, match="groups were given but this classifier was fitted "
                                         "without re-centring"):
        ref.predict(tokens, groups=np.zeros(n))
    with pytest.raises(ValueError, match="groups has 3 entries but there are 90 epochs"):
        BioCodecClassifier(codec=default_codec).fit(both, labels, groups=groups[:3])
    with pytest.raises(ValueError, match="needs the covariance head; got head='paper'"):
        BioCodecClassifier(codec=default_codec, head="paper").fit(both, labels,
                                                                 groups=groups)
    with pytest.raises(ValueError, match="recenter='subject' reads each epoch's group from "
                                         "epochs.metadata, but X is a TokenSet"):
        BioCodecClassifier(codec=default_codec, recenter="subject").fit(both, labels)
    # a missing group is refused (it would leave its epochs without a whitening matrix)
    for missing in (np.where(groups == "a", 0.0, np.nan), np.where(groups == "a", "a", None)):
        with pytest.raises(ValueError, match=r"groups has 45 missing values \(NaN or None\), "
                                             "the first at epoch 45"):
            BioCodecClassifier(codec=default_codec).fit(both, labels, groups=missing)
    # labels of mixed types group as they are, in order of appearance
    mixed = np.array([1] * n + ["1"] * n, dtype=object)
    again = BioCodecClassifier(codec=default_codec, random_state=0, device="cpu",
                               max_epochs=5).fit(both, labels, groups=mixed)
    np.testing.assert_allclose(again.predict_proba(tokens, groups=np.zeros(n)), plain,
                               atol=1e-6)


def test_recenter_reads_epochs_metadata_through_cross_validation(default_codec):
    """``recenter="subject"`` takes the groups from epochs.metadata, also from the lists of
    Epochs that scikit-learn's cross-validation makes, fit and predict alike."""
    import mne
    import pandas as pd
    from sklearn.model_selection import GroupKFold, cross_val_score

    rng = np.random.default_rng(0)
    n, n_chans = 24, 4
    info = mne.create_info([f"EEG{i}" for i in range(n_chans)], 100.0, "eeg")
    subject = np.repeat([1, 2, 3], n // 3)
    y = np.tile([0, 1], n // 2)
    # class 1 has a louder first channel; each subject has its own gains
    data = rng.standard_normal((n, n_chans, 200)) * 1e-5
    data[y == 1, 0] *= 3.0
    data *= np.array([1.0, 4.0, 0.3])[subject - 1][:, None, None]
    epochs = mne.EpochsArray(data, info, verbose=False,
                             metadata=pd.DataFrame({"subject": subject}))
    clf = BioCodecClassifier(codec=default_codec, recenter="subject", random_state=0,
                             device="cpu", max_epochs=30)
    scores = cross_val_score(clf, epochs, y, groups=subject, cv=GroupKFold(3))
    assert scores.shape == (3,) and scores.mean() >= 0.75
    with pytest.raises(ValueError, match=r"recenter='session' names a column of "
                                         r"epochs.metadata, but the epochs' metadata has "
                                         r"columns \['subject'\]"):
        clf.set_params(recenter="session").fit(epochs, y)


def test_recentring_needs_a_head_that_takes_it(mi_tokens, default_codec):
    class OldHead(TokenCovarianceHead):
        def forward(self, codes, log_scale=None):
            return super().forward(codes, log_scale)

    tokens, y, _ = mi_tokens
    clf = BioCodecClassifier(codec=default_codec, module=OldHead, max_epochs=1)
    with pytest.raises(ValueError, match="needs a head whose forward takes 'recentring'; "
                                         "OldHead.forward does not"):
        clf.fit(tokens, y, groups=np.arange(len(y)) % 3)


def test_single_channel_head_reads_code_statistics(mi_tokens, default_codec):
    """One channel: the covariance is a constant 1 x 1 matrix, so the head appends the
    tokenizer's per-codebook embedding statistics, standardised on the training epochs;
    several channels keep the head as it was unless asked."""
    from mne_biocodec.estimators.features import token_features

    tokens, _, _ = mi_tokens
    one = dataclasses.replace(tokens, codes=tokens.codes[:, :1], center=tokens.center[:, :1],
                              scale=tokens.scale[:, :1])
    codes = torch.as_tensor(one.codes.astype(np.int64))
    log_scale = torch.as_tensor(np.log10(one.scale[:, :, 0]), dtype=torch.float32)
    head = TokenCovarianceHead(1, 2, codebooks=default_codec.codebook_vectors(6)).eval()
    assert head.channel_statistics
    # 1 tangent value + 1 log power + 6 codebooks x (mean, std) x 16 dimensions
    assert head.classifier[1].in_features == 2 + 6 * 2 * 16
    expected = token_features(one, default_codec, kind="embedding", log_scale=False)
    np.testing.assert_allclose(head.code_statistics(codes).numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    head.set_reference(codes, log_scale)
    stats = head.features(codes, log_scale)[:, 2:]
    np.testing.assert_allclose(stats.mean(dim=0).numpy(), 0.0, atol=1e-4)
    many = TokenCovarianceHead(21, 2, codebooks=default_codec.codebook_vectors(6))
    assert not many.channel_statistics and not hasattr(many, "statistics_mean")
    assert many.classifier[1].in_features == 21 * 22 // 2 + 21
    forced = TokenCovarianceHead(21, 2, codebooks=default_codec.codebook_vectors(6),
                                 channel_statistics=True)
    assert forced.classifier[1].in_features == 21 * 22 // 2 + 21 + 21 * 6 * 2 * 16
    with pytest.raises(ValueError, match="channel_statistics must be True, False or 'auto'"):
        TokenCovarianceHead(1, 2, channel_statistics="yes")


def _spindle_windows(excerpt, data_root, rng):
    """2-s windows of one DREAMS excerpt at 100 Hz: centred on the expert's spindles, and as
    many N2 windows clear of them."""
    from mne_biocodec.datasets import load_dreams_hypnogram, load_dreams_raw

    raw = load_dreams_raw(excerpt, path=data_root)
    stages = load_dreams_hypnogram(excerpt, return_codes=True, path=data_root)
    marks = np.array([(a["onset"], a["onset"] + a["duration"]) for a in raw.annotations
                      if a["description"] == "spindle"])
    data = raw.copy().resample(100.0, verbose=False).get_data()[0]
    grid = np.arange(1.0, 1799.0, 0.5)
    clear = np.all((grid[:, None] + 1.5 < marks[None, :, 0])
                   | (grid[:, None] - 1.5 > marks[None, :, 1]), axis=1)
    negatives = rng.choice(grid[(stages[(grid // 5).astype(int)] == 2) & clear],
                           size=len(marks), replace=False)
    starts = np.round((np.r_[marks.mean(axis=1), negatives] - 1.0) * 100).astype(int)
    X = np.stack([data[s:s + 200][None] for s in starts])
    return X, np.repeat([1, 0], len(marks))


def test_default_classifier_learns_single_channel_spindles(data_root, default_codec):
    """Sleep spindles in one channel, trained on DREAMS excerpt 1 and scored on excerpt 3:
    with the code statistics the default head finds them; from the channel's power alone
    (the head before them) it hardly does."""
    rng = np.random.default_rng(0)
    (X_train, y_train), (X_test, y_test) = (_spindle_windows(e, data_root, rng)
                                            for e in (1, 3))
    scores = {}
    for statistics in ("auto", False):
        clf = BioCodecClassifier(codec=default_codec, sfreq=100.0, random_state=0,
                                 module__channel_statistics=statistics)
        clf.fit(X_train, y_train)
        scores[statistics] = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
    # measured 0.84 against 0.64
    assert scores["auto"] >= 0.75 and scores["auto"] >= scores[False] + 0.1, scores
