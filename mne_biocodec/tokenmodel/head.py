"""A classification head that starts from the pretrained token model (for fine-tuning)."""

import torch
from torch import nn

from .io import load_token_model

__all__ = ["TokenModelHead"]


class TokenModelHead(nn.Module):
    """Classify codes ``[B, n_chans, n_q, n_frames]`` from a token model's contextual states.

    Each channel's codes go through the pretrained
    :class:`~mne_biocodec.tokenmodel.TokenTransformer` (nothing hidden); its states are
    averaged over frames, the channels' standardised log scales appended (``use_scale``), and
    dropout and one linear layer give the class scores. The transformer is fine-tuned with the
    linear layer unless ``freeze``. Built by :class:`~mne_biocodec.BioCodecClassifier` with
    ``module=TokenModelHead`` (its data-dependent arguments are those below;
    ``d_model`` and ``codebooks`` describe the codec's code vectors and are not used).

    Parameters
    ----------
    n_chans, n_outputs : int
        Channels of the codes and classes to score.
    n_q, codebook_size : int, default=6, 256
        Levels and codes per level of the codes given: they must be the token model's.
    d_model, codebooks : object
        Ignored (passed by the classifier to every head).
    use_scale : bool, default=False
        Append the standardised log scales ``[B, n_chans]`` to the features.
    pretrained : str | path-like, default="token-model-eeg"
        The token model (:func:`~mne_biocodec.tokenmodel.load_token_model`).
    freeze : bool, default=False
        Keep the token model's weights fixed (train the linear layer only).
    dropout : float, default=0.3
        Dropout on the features.
    """

    def __init__(self, n_chans, n_outputs, n_q=6, codebook_size=256, d_model=None,
                 codebooks=None, use_scale=False, pretrained="token-model-eeg", freeze=False,
                 dropout=0.3):
        super().__init__()
        self.token_model = load_token_model(pretrained, device="cpu")
        if (n_q, codebook_size) != (self.token_model.n_q, self.token_model.codebook_size):
            raise ValueError(
                f"The token model reads {self.token_model.n_q} levels of "
                f"{self.token_model.codebook_size} codes; the codes have {n_q} of "
                f"{codebook_size}. Tokenise with the model's codec and all its codebooks.")
        self.token_model.requires_grad_(not freeze)
        self.use_scale = bool(use_scale)
        width = self.token_model.config["d_model"] + int(self.use_scale)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(n_chans * width, n_outputs))

    def forward(self, codes, log_scale=None):
        batch, n_chans = codes.shape[:2]
        states = self.token_model.contextualize(codes.long().flatten(0, 1))
        features = states.mean(dim=1).view(batch, n_chans, -1)
        if self.use_scale:
            if log_scale is None:
                raise ValueError("this head was built with use_scale=True: pass log_scale "
                                 "[batch, n_chans] too.")
            features = torch.cat([features, log_scale.to(features.dtype)[..., None]], dim=-1)
        return self.classifier(features)
