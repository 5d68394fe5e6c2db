"""BioCodec+TS+LR: token coherence matrices in the tangent space, logistic regression.

MOABB pipeline file (``PIPELINE``); run it with the paradigm resampled to 250 Hz.
"""

from mne_biocodec.moabb.pipelines import pipeline_config

PIPELINE = pipeline_config("BioCodec+TS+LR", ["LeftRightImagery", "MotorImagery", "SSVEP"])
