"""BioCodec-FB+LR: BioCodec+LR features of each filter-bank band, for SSVEP.

MOABB pipeline file (``PIPELINE``) for the FilterBankSSVEP paradigm; run it with the paradigm
resampled to 250 Hz.
"""

from mne_biocodec.moabb.pipelines import pipeline_config

PIPELINE = pipeline_config("BioCodec-FB+LR", ["FilterBankSSVEP"])
