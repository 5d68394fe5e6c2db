"""BioCodecClassifier: the frozen codec's tokens and its default (covariance) head.

MOABB pipeline file (``PIPELINE``); run it with the paradigm resampled to 250 Hz.
"""

from mne_biocodec.moabb.pipelines import pipeline_config

PIPELINE = pipeline_config("BioCodecClassifier",
                           ["LeftRightImagery", "MotorImagery", "SSVEP"])
