"""Codec training as a skorch ``NeuralNet``: only the loss is custom."""

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring

from ..codec import BioCodec, CodecLoss
from ..codec.metrics import pearson_r, si_sdr

__all__ = ["BioCodecNet"]

#: Batch-level values recorded by :meth:`BioCodecNet.get_loss`, averaged per epoch.
LOGGED_PARTS = ("l_t", "l_f", "l_w")
#: Adam's betas in the reference recipe.
ADAM_BETAS = (0.5, 0.9)


class BioCodecNet(NeuralNet):
    """skorch net that trains a :class:`~mne_biocodec.codec.BioCodec`.

    ``X`` is an array of single-channel segments ``(n_segments, 1, n_times)`` (normalised as
    the codec expects); there is no ``y``. The loss is :class:`~mne_biocodec.codec.CodecLoss`
    (Huber + multi-scale STFT + RVQ commitment). Besides ``train_loss`` and ``valid_loss``
    the history holds, per epoch, the loss parts (``train_l_t``, ``train_l_f``, ``train_l_w``,
    ``valid_...``) and the validation fidelity (``valid_r``, ``valid_si_sdr``).

    Parameters
    ----------
    module : type, default=BioCodec
        The codec class; configure it with ``module__config``.
    criterion : type, default=CodecLoss
        The loss; configure it with ``criterion__time_weight`` etc.
    optimizer : type, default=torch.optim.Adam
        With ``optimizer__betas=(0.5, 0.9)`` as in the reference recipe.
    **kwargs
        Any :class:`skorch.NeuralNet` argument.
    """

    def __init__(self, module=BioCodec, criterion=CodecLoss, optimizer=torch.optim.Adam,
                 **kwargs):
        kwargs.setdefault("optimizer__betas", ADAM_BETAS)
        super().__init__(module, criterion=criterion, optimizer=optimizer, **kwargs)

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        for split in ("train", "valid"):
            for part in LOGGED_PARTS:
                name = f"{split}_{part}"
                callbacks.append((name, PassthroughScoring(name=name,
                                                           on_train=split == "train")))
        for name in ("valid_r", "valid_si_sdr"):
            callbacks.append((name, PassthroughScoring(name=name, lower_is_better=False)))
        return callbacks

    def get_loss(self, y_pred, y_true, X=None, training=False):
        reconstruction, penalty, _ = y_pred
        target = X.to(reconstruction.device) if isinstance(X, torch.Tensor) else \
            torch.as_tensor(np.asarray(X), device=reconstruction.device)
        parts = self.criterion_(target, reconstruction, penalty)
        prefix = "train" if training else "valid"
        for part in LOGGED_PARTS:
            self.history.record_batch(f"{prefix}_{part}", float(parts[part].detach()))
        if not training:
            with torch.no_grad():
                est = reconstruction.detach()
                self.history.record_batch("valid_r", float(pearson_r(target, est).mean()))
                self.history.record_batch("valid_si_sdr", float(si_sdr(target, est).mean()))
        return parts["loss"]
