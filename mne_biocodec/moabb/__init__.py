"""MOABB integration: an offline PhysionetMI, ready pipelines and a decoding benchmark.

- :class:`OfflinePhysionetMI`: MOABB's PhysionetMI reading only the runs on disk.
- :func:`make_pipelines`: the BioCodec pipelines and MOABB's classic references
  (CSP+LDA, TS+LR, SSVEP_TS+LR, SSVEP_CCA), built as MOABB's pipeline files build them.
- :func:`run_benchmark`: a MOABB evaluation (within-session, cross-session, cross-subject),
  offline, writing per-subject scores, a JSON, a markdown table and a plot.
- :func:`run_cross_subject` and :func:`run_low_resource`: the BioCodec paper's subject folds
  (balanced accuracy, Cohen's kappa, weighted F1) and a learning curve in training trials
  per class.

The folder ``pipeline_files/`` next to this module (:data:`PIPELINES_DIR`) holds the same
pipelines as MOABB pipeline files (``PIPELINE = {...}``), for
``moabb.benchmark(pipelines=PIPELINES_DIR)``.
"""

from pathlib import Path

from ._common import codec_training_subjects, resolve_dataset, resolve_paradigm
from .benchmark import run_benchmark
from .datasets import OfflinePhysionetMI
from .pipelines import (DECODED_PIPELINES, CoherenceMatrices, count_trainable_parameters,
                        make_pipelines, pipeline_input)
from .protocols import run_cross_subject, run_low_resource, score_predictions

# Not named pipelines/: the module pipelines.py would shadow it.
#: Folder of MOABB pipeline files (``*.py`` defining ``PIPELINE``) for the BioCodec pipelines.
PIPELINES_DIR = Path(__file__).parent / "pipeline_files"

__all__ = ["OfflinePhysionetMI", "make_pipelines", "pipeline_input",
           "count_trainable_parameters", "CoherenceMatrices", "run_benchmark",
           "run_cross_subject", "run_low_resource", "score_predictions", "resolve_dataset",
           "resolve_paradigm", "codec_training_subjects", "PIPELINES_DIR", "DECODED_PIPELINES"]
