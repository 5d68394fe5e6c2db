"""BioCodec+LR: spatial token coherence and log channel scales, logistic regression.

MOABB pipeline file (``PIPELINE``); run it with the paradigm resampled to 250 Hz.
"""

from mne_biocodec.moabb.pipelines import pipeline_config

PIPELINE = pipeline_config("BioCodec+LR", ["LeftRightImagery", "MotorImagery", "SSVEP"])
