"""The hyper-parameters of a codec training run, validated, from Python or a recipe file."""

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TrainingRecipe", "read_json_object", "RECIPE_DATA_KEYS", "RUN_SETTINGS"]

#: Keys of a recipe file that describe the data and the codec rather than the training.
RECIPE_DATA_KEYS = ("name", "modality", "codec_config", "segment_seconds", "valid_segments",
                    "notes", "split_version", "init", "init_weights_sha256",
                    "dataset_weights")
#: Fields that shape the training trajectory: stored with every checkpoint, and a resume
#: with other values is warned about (``max_epochs``, ``checkpoint_every`` and ``n_threads``
#: may change freely).
RUN_SETTINGS = ("batch_size", "steps_per_epoch", "lr", "time_weight", "freq_weight",
                "warmup_steps", "final_lr_ratio")


def read_json_object(path, what="Recipe"):
    """The JSON object stored in a file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not JSON, or holds something other than an object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path} is not valid JSON: {err}.") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} {path} must hold a JSON object; got "
                         f"{type(value).__name__}.")
    return value


def _check_int(name, value, low, optional=False):
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "None or an integer" if optional else "an integer"
        raise ValueError(f"TrainingRecipe {name} must be {kind} >= {low}; got {value!r}.")


def _check_float(name, value, low, high=math.inf, low_open=False):
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value) and (value > low if low_open else value >= low)
          and value <= high)
    if not ok:
        bounds = f"> {low}" if low_open else f">= {low}"
        if high != math.inf:
            bounds += f" and <= {high}"
        raise ValueError(f"TrainingRecipe {name} must be a finite number {bounds}; got "
                         f"{value!r}.")


@dataclass(frozen=True)
class TrainingRecipe:
    """How to train a codec: schedule, batch, loss weights, seed and checkpoints.

    Every field is checked when the recipe is made (``ValueError`` naming the field, the
    accepted range and the value received).

    Parameters
    ----------
    max_epochs : int, default=10
        Epochs in total (a resumed run trains only the remaining ones).
    steps_per_epoch : int | None, default=None
        Optimiser steps per epoch, each drawing ``batch_size`` segments from a seeded
        permutation; None makes one pass (the incomplete last batch dropped).
    batch_size : int, default=32
        Segments per step: the *global* batch, a multiple of the number of processes, so a
        run takes the same steps on any number of processes.
    lr : float, default=1e-3
        Peak learning rate of Adam (betas 0.5, 0.9). The reference uses 1e-4 over ~195 k GPU
        steps; on a CPU budget 1e-3 converges much faster (see the model card).
    time_weight, freq_weight : float, default=1.0
        Weights of the Huber and multi-scale STFT losses (the reference uses 0.2 and 1.0).
    warmup_steps : int, default=50
        Linear warm-up steps before the cosine decay.
    final_lr_ratio : float, default=0.01
        Learning rate at the end, relative to ``lr``.
    seed : int, default=0
        Seeds torch (initialisation, k-means) and the batch permutations.
    checkpoint_every : int, default=1
        Epochs between checkpoints (the last epoch is always checkpointed).
    n_threads : int | None, default=None
        ``torch.set_num_threads`` for the run; None leaves torch's setting.

    See Also
    --------
    pretrain_codec : Trains with a recipe.
    """

    max_epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    time_weight: float = 1.0
    freq_weight: float = 1.0
    warmup_steps: int = 50
    final_lr_ratio: float = 0.01
    seed: int = 0
    checkpoint_every: int = 1
    n_threads: int | None = None

    def __post_init__(self):
        _check_int("max_epochs", self.max_epochs, 1)
        _check_int("steps_per_epoch", self.steps_per_epoch, 1, optional=True)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0.0, low_open=True)
        _check_float("time_weight", self.time_weight, 0.0)
        _check_float("freq_weight", self.freq_weight, 0.0)
        _check_int("warmup_steps", self.warmup_steps, 0)
        _check_float("final_lr_ratio", self.final_lr_ratio, 0.0, 1.0)
        _check_int("seed", self.seed, 0)
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        _check_int("n_threads", self.n_threads, 1, optional=True)

    @classmethod
    def field_names(cls):
        """The names of the fields, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values, ignore=()):
        """A recipe from a mapping of field values (missing fields take their defaults).

        Parameters
        ----------
        values : dict
            Field names to values.
        ignore : sequence of str
            Other keys that may be present and are skipped (e.g. a recipe file's data keys).

        Raises
        ------
        ValueError
            If a key is neither a field nor ignored (a misspelt setting would otherwise be
            dropped silently), or a value is out of range.
        """
        names = cls.field_names()
        unknown = sorted(set(values) - set(names) - set(ignore))
        if unknown:
            raise ValueError(f"Unknown training settings {unknown}; the settings are "
                             f"{list(names)}.")
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json(cls, path):
        """The training settings of a JSON file: a recipe file, or an object of fields.

        A recipe file's data keys (:data:`RECIPE_DATA_KEYS`) are skipped; any other key
        must be a field.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If it is not a JSON object, has unknown keys, or a value is out of range.
        """
        return cls.from_dict(read_json_object(path), ignore=RECIPE_DATA_KEYS)

    def to_dict(self):
        """The fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A copy with some fields changed (checked like the original).

        Raises
        ------
        TypeError
            If a name is not a field.
        """
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise TypeError(f"{unknown} are not training settings; the settings are "
                            f"{list(self.field_names())}.")
        return dataclasses.replace(self, **changes)

    def run_settings(self):
        """The settings stored with every checkpoint to recognise a resumed run."""
        return {name: getattr(self, name) for name in RUN_SETTINGS}
