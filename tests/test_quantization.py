"""The residual vector quantizer: its public codebook interface, its one residual loop in
every mode (training, encoding, straight-through) and the fine-tuning head built on it."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from mne_biocodec import BioCodec
from mne_biocodec.codec.quantization import ResidualVectorQuantizer
from mne_biocodec.estimators.head import FineTunedCodecHead, TokenTransformerHead

DIM, N_Q, BINS, CODE_DIM = 32, 3, 16, 8


def _trained_rvq():
    """A small quantizer whose codebooks went through k-means and a few EMA updates."""
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dimension=DIM, n_q=N_Q, bins=BINS, codebook_dim=CODE_DIM,
                                  kmeans_iters=5).train()
    with torch.no_grad():
        for _ in range(3):
            rvq(torch.randn(4, DIM, 30))
    return rvq.eval()


RVQ = _trained_rvq()


def _latents(seed, batch, n_frames, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, DIM, n_frames, generator=gen) * scale


def _summed_code_vectors(vectors, codes):
    """Sum over codebooks of ``vectors[q, codes[:, q]]``: ``[B, T, codebook_dim]``."""
    return sum(vectors[q][codes[:, q]] for q in range(codes.shape[1]))


def test_codebook_vectors_are_the_codebook_buffers():
    vectors = RVQ.codebook_vectors()
    assert vectors.shape == (N_Q, BINS, CODE_DIM)
    assert not vectors.requires_grad
    state = RVQ.state_dict()
    for q in range(N_Q):
        assert torch.equal(vectors[q], state[f"vq.layers.{q}._codebook.embed"])
    assert torch.equal(RVQ.codebook_vectors(2), vectors[:2])
    # a copy: editing it leaves the codec alone
    vectors.zero_()
    assert RVQ.codebook_vectors().abs().sum() > 0


@pytest.mark.parametrize("n_q, error, match", [
    (0, ValueError, r"n_q must be an integer in \[1, 3\].*got 0"),
    (4, ValueError, r"n_q must be an integer in \[1, 3\].*got 4"),
    (2.5, TypeError, r"n_q must be an integer.*got 2.5 of type float"),
    (True, TypeError, r"n_q must be an integer.*got True of type bool"),
])
def test_bad_n_q(n_q, error, match):
    for call in (RVQ.codebook_vectors, lambda n: RVQ.encode(_latents(0, 1, 2), n_q=n)):
        with pytest.raises(error, match=match):
            call(n_q)
    assert RVQ.check_n_q(np.int64(2)) == 2 and RVQ.check_n_q(None) == N_Q


@pytest.mark.parametrize("shape", [(2, DIM), (2, DIM + 1, 5), (2, 5, DIM)])
def test_latents_of_the_wrong_shape(shape):
    x = torch.zeros(shape)
    for call in (RVQ, RVQ.encode, RVQ.quantize_straight_through):
        with pytest.raises(ValueError, match=rf"x must be latents \[batch, {DIM}, n_frames\]"
                                             rf".*got \({shape[0]}, "):
            call(x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), n_frames=st.integers(1, 12),
       scale=st.sampled_from([1e-3, 1.0, 50.0]), n_q=st.integers(1, N_Q))
def test_eval_decode_of_encode_is_the_quantized_output(seed, batch, n_frames, scale, n_q):
    x = _latents(seed, batch, n_frames, scale)
    with torch.no_grad():
        result = RVQ(x, n_q=n_q)
        codes = RVQ.encode(x, n_q=n_q)
        decoded = RVQ.decode(codes)
    assert codes.shape == (batch, n_q, n_frames) and codes.dtype == torch.int64
    assert torch.equal(codes, result.codes)
    assert torch.equal(decoded, result.quantized)
    assert float(result.penalty) == 0.0


def test_encode_leaves_a_training_quantizer_untouched():
    rvq = _trained_rvq().train()
    before = {k: v.clone() for k, v in rvq.state_dict().items()}
    codes = rvq.encode(_latents(3, 2, 40))
    _, st_codes = rvq.quantize_straight_through(_latents(3, 2, 40))
    assert torch.equal(codes, st_codes)
    for key, value in rvq.state_dict().items():
        assert torch.equal(value, before[key]), key
    rvq(_latents(3, 2, 40))  # the training forward does update the codebooks
    assert not torch.equal(rvq.state_dict()["vq.layers.0._codebook.embed_avg"],
                           before["vq.layers.0._codebook.embed_avg"])


@pytest.mark.parametrize("n_q", [1, N_Q])
def test_straight_through_value_is_the_summed_code_vectors(n_q):
    x = _latents(4, 3, 17)
    vectors, codes = RVQ.quantize_straight_through(x, n_q=n_q)
    assert vectors.shape == (3, 17, CODE_DIM)
    assert torch.equal(codes, RVQ.encode(x, n_q=n_q))
    expected = _summed_code_vectors(RVQ.codebook_vectors(n_q), codes)
    torch.testing.assert_close(vectors, expected, rtol=0, atol=1e-6)


def test_straight_through_gradient():
    x = _latents(5, 2, 9).requires_grad_(True)
    vectors, _ = RVQ.quantize_straight_through(x)
    weight = torch.randn(vectors.shape, generator=torch.Generator().manual_seed(6))
    (vectors * weight).sum().backward()
    # Straight through: each layer's output acts as its projected residual, and each
    # residual is x minus detached vectors, so d/dx = sum over layers of project_in's W^T.
    w_in = sum(layer.project_in.weight for layer in RVQ.layers)
    expected = torch.einsum("btc,cd->bdt", weight, w_in)
    torch.testing.assert_close(x.grad, expected, rtol=1e-5, atol=1e-5)
    for layer in RVQ.layers:
        assert layer.project_in.weight.grad.abs().sum() > 0
        assert layer.project_out.weight.grad is None  # the residuals are detached
    RVQ.zero_grad(set_to_none=True)


def _small_codec():
    torch.manual_seed(0)
    return BioCodec({"n_filters": 4, "dimension": DIM, "lstm": 0, "n_residual_layers": 1,
                     "n_q": N_Q, "bins": BINS, "codebook_dim": CODE_DIM,
                     "kmeans_init": False})


def _head_logits_before_the_api(model, x):
    """``FineTunedCodecHead.forward`` as written before the quantizer had a public
    straight-through mode (an independent re-implementation, kept as the reference)."""
    batch, n_chans, n_times = x.shape
    residual = model.encoder(x.reshape(batch * n_chans, 1, n_times))
    codebooks = model.quantizer.codebook_vectors()
    summed = None
    for q, layer in enumerate(model.quantizer.layers[: model.head.n_q]):
        projected = layer.project_in(residual.transpose(1, 2))
        codes = (F.normalize(projected, dim=-1) @ F.normalize(codebooks[q], dim=-1).t()
                 ).argmax(dim=-1)
        vectors = codebooks[q][codes]
        straight = projected + (vectors - projected).detach()
        residual = residual - layer.project_out(vectors).transpose(1, 2).detach()
        summed = straight if summed is None else summed + straight
    return model.head.classify(summed.reshape(batch, n_chans, summed.shape[1], -1))


def test_finetuned_head_logits_and_gradients_unchanged():
    codec = _small_codec()
    head = TokenTransformerHead(n_chans=3, n_outputs=2, n_q=2, d_model=CODE_DIM, n_heads=2,
                                dropout=0.0)
    model = FineTunedCodecHead(codec, head).train()
    state = {k: v.clone() for k, v in model.quantizer.state_dict().items()}
    x = torch.randn(2, 3, 120, generator=torch.Generator().manual_seed(7))
    grads = []
    for forward in (model, lambda x: _head_logits_before_the_api(model, x)):
        model.zero_grad(set_to_none=True)
        logits = forward(x)
        logits.square().sum().backward()
        grads.append((logits.detach(), [p.grad.clone() for p in model.encoder.parameters()]))
    (new_logits, new_grads), (old_logits, old_grads) = grads
    assert new_logits.shape == (2, 2)
    torch.testing.assert_close(new_logits, old_logits, rtol=0, atol=0)
    for new, old in zip(new_grads, old_grads):
        torch.testing.assert_close(new, old, rtol=0, atol=0)
    assert sum(float(g.abs().sum()) for g in new_grads) > 0
    # the fine-tuning leaves the codebooks and their statistics alone
    for key, value in model.quantizer.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not model.quantizer.training
