"""A pretrained token model: masked code modelling over BioCodec tokens.

- :mod:`~mne_biocodec.tokenmodel.model`: :class:`TokenTransformer`, the masking scheme and
  the fixed scoring schedule (torch);
- :mod:`~mne_biocodec.tokenmodel.io`: safetensors + JSON files checked by SHA-256,
  :func:`load_token_model` of a file or of the shipped ``"token-model-eeg"``;
- :mod:`~mne_biocodec.tokenmodel.data`: windows of recordings to token sequences;
- :mod:`~mne_biocodec.tokenmodel.pretrain`: the skorch net and resumable pretraining;
- :mod:`~mne_biocodec.tokenmodel.estimator`: :class:`BioCodecTokenModel`, the scikit-learn
  estimator (embeddings, typicality scores, self-supervised fit);
- :mod:`~mne_biocodec.tokenmodel.annotate`: :func:`annotate_unlikely` for ``mne.io.Raw``;
- :mod:`~mne_biocodec.tokenmodel.generate`: :func:`forecast`, continuing token streams;
- :mod:`~mne_biocodec.tokenmodel.head`: heads for :class:`~mne_biocodec.BioCodecClassifier`:
  :class:`TokenModelHead` (fine-tuning the model, ``module=TokenModelHead``) and
  :class:`TokenModelCovarianceHead` (the covariance head plus the frozen model's states),
  both on :class:`TokenModelFeatures`; :func:`check_token_codec`.
"""

from .annotate import WindowScores, annotate_unlikely
from .estimator import BioCodecTokenModel
from .generate import forecast, forecast_signal
from .head import (TokenModelCovarianceHead, TokenModelFeatures, TokenModelHead,
                   check_token_codec)
from .io import TOKEN_MODEL_FORMAT, load_token_model, save_token_model
from .model import (TOKEN_MODEL_CONFIG, TokenTransformer, check_token_model_config,
                    sample_mask, schedule_masks, token_log_likelihood)
from .pretrain import (TokenModelNet, masked_token_metrics, pretrain_from_recipe,
                       pretrain_token_model)

__all__ = ["BioCodecTokenModel", "annotate_unlikely", "WindowScores", "forecast",
           "forecast_signal", "TokenModelHead", "TokenModelCovarianceHead",
           "TokenModelFeatures", "check_token_codec", "TokenTransformer", "TOKEN_MODEL_CONFIG",
           "check_token_model_config",
           "sample_mask", "schedule_masks", "token_log_likelihood", "load_token_model",
           "save_token_model", "TOKEN_MODEL_FORMAT", "TokenModelNet", "masked_token_metrics",
           "pretrain_token_model", "pretrain_from_recipe"]
