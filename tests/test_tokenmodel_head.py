"""Heads that start from the token model: options of TokenModelHead, the frozen-feature cache
and TokenModelCovarianceHead inside BioCodecClassifier (tiny random token model, fast)."""

import numpy as np
import pytest
import torch

from mne_biocodec.tokenmodel import TokenTransformer, save_token_model
from mne_biocodec.tokenmodel.head import (TokenModelCovarianceHead, TokenModelFeatures,
                                          TokenModelHead)

TINY = {"d_model": 16, "n_layers": 2, "n_heads": 2, "dim_feedforward": 32, "max_frames": 64}


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    torch.manual_seed(0)
    return save_token_model(TokenTransformer(TINY),
                            tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


@pytest.fixture
def codes():
    return torch.randint(0, 256, (6, 3, 6, 20), generator=torch.Generator().manual_seed(1))


def test_pooling_and_layers_set_the_feature_width(tiny_file, codes):
    log_scale = torch.zeros(6, 3)
    head = TokenModelHead(3, 2, pretrained=tiny_file, use_scale=True, pooling="mean",
                          n_layers=1)
    assert len(head.token_model.encoder.layers) == 1
    assert head.classifier[-1].in_features == 16 + 3
    assert head(codes, log_scale).shape == (6, 2)
    per_channel = TokenModelHead(3, 2, pretrained=tiny_file, use_scale=True)
    assert per_channel.classifier[-1].in_features == 3 * (16 + 1)
    with pytest.raises(ValueError, match=r"n_layers must be None or an int in \[1, 2\]"):
        TokenModelHead(3, 2, pretrained=tiny_file, n_layers=3)
    with pytest.raises(ValueError, match="pooling must be one of"):
        TokenModelHead(3, 2, pretrained=tiny_file, pooling="max")
    with pytest.raises(ValueError, match="use_scale=True: pass log_scale"):
        head(codes)


def test_frozen_features_are_deterministic_and_computed_once(tiny_file, codes, monkeypatch):
    features = TokenModelFeatures(6, 256, tiny_file, freeze=True).train()
    assert not features.token_model.training  # no dropout in frozen features
    assert not any(p.requires_grad for p in features.parameters())
    first = features(codes)
    calls = []
    compute = features.states
    monkeypatch.setattr(features, "states", lambda c: calls.append(len(c)) or compute(c))
    # a new head on the same model and codes reuses the features (folds, clones)
    again = TokenModelFeatures(6, 256, tiny_file, freeze=True)
    monkeypatch.setattr(again, "states", features.states)
    torch.testing.assert_close(again(codes), first)
    assert calls == []
    fresh = codes.clone()
    fresh[0, 0, 0, 0] = (fresh[0, 0, 0, 0] + 1) % 256
    out = features(fresh)
    assert calls == [1]  # only the changed epoch is computed
    torch.testing.assert_close(out[1:], first[1:])
    # fewer layers are another model: not served from the cache of the full one
    assert not torch.allclose(TokenModelFeatures(6, 256, tiny_file, freeze=True,
                                                 n_layers=1)(codes), first)


def test_covariance_head_appends_standardised_token_features(tiny_file, codes):
    log_scale = torch.randn(6, 3)
    head = TokenModelCovarianceHead(3, 2, pretrained=tiny_file, token_weight=0.5)
    plain = 3 * 4 // 2 + 3  # tangent vector and log power of 3 channels
    assert head.classifier[-1].in_features == plain + 16
    head.set_reference(codes, log_scale)
    tokens = (head.pooled_token_states(codes) - head.token_mean) / head.token_std
    torch.testing.assert_close(tokens.mean(dim=0), torch.zeros(16), atol=1e-3, rtol=0)
    assert head.eval()(codes, log_scale).shape == (6, 2)
    trainable = [n for n, p in head.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.1.weight", "classifier.1.bias"]
    with pytest.raises(ValueError, match="token_weight must be a positive number"):
        TokenModelCovarianceHead(3, 2, pretrained=tiny_file, token_weight=0)


def test_classifier_trains_the_covariance_token_head(tiny_file, rng):
    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
    from mne_biocodec.tokens import TokenSet

    X = rng.standard_normal((16, 3, 2 * 250)) * 1e-5
    X[8:, 0] *= 3.0  # the second class: more power on the first channel
    y = np.repeat([0, 1], 8)
    tokens = BioCodecTokenizer(output="codes", sfreq=250.0).fit(X).encode(X)
    assert isinstance(tokens, TokenSet)
    clf = BioCodecClassifier(module=TokenModelCovarianceHead, module__pretrained=tiny_file,
                             sfreq=250.0, max_epochs=20, random_state=0,
                             device="cpu").fit(tokens, y)
    # treated as the covariance head: the scale statistics reached it, only the linear layer
    # trained
    torch.testing.assert_close(clf.module_.scale_mean,
                               torch.as_tensor(clf.scale_mean_, dtype=torch.float32))
    assert clf.n_trainable_params_ == (6 + 3 + 16) * 2 + 2
    assert clf.score(tokens, y) >= 0.75


def test_frozen_cache_follows_new_weights(tiny_file, codes):
    features = TokenModelFeatures(6, 256, tiny_file, freeze=True)
    first = features(codes)
    # a random change: a constant shift of the embeddings is undone by the layer norms
    noise = torch.randn(features.token_model.embedding.weight.shape,
                        generator=torch.Generator().manual_seed(2))
    state = {k: v + noise if k == "embedding.weight" else v
             for k, v in features.token_model.state_dict().items()}
    features.token_model.load_state_dict(state)
    torch.testing.assert_close(features(codes), features.states(codes))
    assert not torch.allclose(features(codes), first)


def test_token_model_refuses_another_codecs_codes(rng):
    """The shipped token model read biocodec-eeg-v1's tokens: v2's codes (same numbers, other
    signals) are refused by name, in the check and inside the classifier."""
    from mne_biocodec import BioCodecClassifier, load_codec
    from mne_biocodec.tokenmodel import load_token_model
    from mne_biocodec.tokenmodel.head import check_token_codec

    model = load_token_model("token-model-eeg", device="cpu")
    v1, v2 = (load_codec(n, device="cpu").codebook_vectors()
              for n in ("biocodec-eeg-v1", "biocodec-eeg-v2"))
    check_token_codec(model, v1)
    check_token_codec(model, None)
    with pytest.raises(ValueError, match="pass codec='biocodec-eeg-v1'"):
        check_token_codec(model, v2)
    X = rng.standard_normal((8, 2, 2 * 250)) * 1e-5
    y = np.repeat([0, 1], 4)
    with pytest.raises(ValueError, match="pass codec='biocodec-eeg-v1'"):
        BioCodecClassifier(codec="biocodec-eeg-v2", module=TokenModelHead, sfreq=250.0,
                           max_epochs=1, device="cpu").fit(X, y)
