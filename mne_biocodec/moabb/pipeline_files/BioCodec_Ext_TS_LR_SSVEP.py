"""BioCodec-Ext+TS+LR: MOABB's SSVEP_TS+LR with token coherence in place of the covariance.

MOABB pipeline file (``PIPELINE``) for the FilterBankSSVEP paradigm; run it with the paradigm
resampled to 250 Hz.
"""

from mne_biocodec.moabb.pipelines import pipeline_config

PIPELINE = pipeline_config("BioCodec-Ext+TS+LR", ["FilterBankSSVEP"])
