"""Masked code modelling with skorch: the net, and resumable pretraining with checkpoints.

:class:`TokenModelNet` is skorch's :class:`~skorch.NeuralNet` with one hook, ``get_loss``:
the module (:class:`MaskedCodeModelling`) hides codes of its input with a random mask
(:func:`~mne_biocodec.tokenmodel.model.sample_mask`) and returns the logits with the mask,
and the loss is the cross-entropy of the hidden codes. The estimator's ``fit`` and
:func:`pretrain_token_model` train through it.

:func:`pretrain_token_model` runs the net one epoch (``steps_per_epoch`` batches) at a time,
writing after each a verified checkpoint with :mod:`mne_biocodec.training.checkpoint` (atomic
folders with a SHA-256 manifest, weights and optimizer state as safetensors, torch's RNG, the
history as JSON): a rerun resumes from the newest intact one and ends where an uninterrupted
run would; a folder of another run, or of something else, is refused, never overwritten.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import GradientNormClipping
from skorch.history import History

from ..codec import atomic_write, default_device
from ..training.checkpoint import (checkpoint_folders, read_checkpoint, resume_point,
                                   write_checkpoint)
from ..training.schedule import WarmupCosine
from .io import save_token_model
from .model import (TokenTransformer, check_token_model_config, masked_loss, sample_mask,
                    token_log_likelihood)

__all__ = ["MaskedCodeModelling", "TokenModelNet", "pretrain_token_model",
           "masked_token_metrics", "TokenModelResult", "make_net", "load_token_recipe",
           "pretrain_from_recipe", "RUN_MARKER", "FINAL_NAME", "RECIPE_KEYS"]

#: File that marks a folder as a token-model run (a folder without it, not empty, is
#: refused rather than written into).
RUN_MARKER = "token-model-run.json"
#: Name of the trained model a run publishes (``.safetensors`` and ``.json``).
FINAL_NAME = "token-model.safetensors"
_RUN_FORMAT = "mne-biocodec-token-model-run-1"


class MaskedCodeModelling(torch.nn.Module):
    """A :class:`TokenTransformer` that hides part of its input, for training.

    Parameters
    ----------
    config : dict | None
        The model's config (:data:`~mne_biocodec.tokenmodel.model.TOKEN_MODEL_CONFIG`); its
        masking keys drive the masks.

    Attributes
    ----------
    model : TokenTransformer
        The model trained.
    """

    def __init__(self, config=None):
        super().__init__()
        self.model = TokenTransformer(config)

    def forward(self, codes):
        """Logits ``[B, n_q, T, K]`` of codes ``[B, n_q, T]`` under a random mask, the mask
        ``[B, n_q, T]`` and the codes (torch's global generator draws the mask, so that a
        checkpoint's RNG state resumes the same masks)."""
        codes = codes.long()
        mask = sample_mask(*codes.shape, self.model.config, device=codes.device)
        return self.model(codes, mask), mask, codes


class TokenModelNet(NeuralNet):
    """skorch's NeuralNet for masked code modelling; ``get_loss`` is the one hook.

    The module returns ``(logits, mask, codes)`` (:class:`MaskedCodeModelling`); the loss is
    :func:`~mne_biocodec.tokenmodel.model.masked_loss`. Train it on code sequences
    ``(n_sequences, n_q, n_frames)`` without targets (``fit(X)``).
    """

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        logits, mask, codes = y_pred
        return masked_loss(logits, codes, mask)[0]


def masked_token_metrics(model, codes, span=4, n_groups=2, batch_size=256):
    """Masked-token accuracy, mean negative log-likelihood and perplexity per level.

    Parameters
    ----------
    model : TokenTransformer
        The model.
    codes : ndarray, shape (n_sequences, n_q, n_frames)
        Integer codes.
    span, n_groups : int
        The fixed schedule (:func:`~mne_biocodec.tokenmodel.model.schedule_masks`).
    batch_size : int, default=256
        Sequences per forward pass.

    Returns
    -------
    metrics : dict
        ``accuracy``, ``nll`` (nats) and ``perplexity``: lists of ``n_q`` floats, level 0
        first; ``mean_nll``: the mean over levels.
    """
    log_prob, predicted = token_log_likelihood(model, codes, span, n_groups, batch_size)
    codes = torch.as_tensor(np.asarray(codes)).long()
    accuracy = (predicted == codes).float().mean(dim=(0, 2))
    nll = -log_prob.double().mean(dim=(0, 2))
    return {"accuracy": accuracy.tolist(), "nll": nll.tolist(),
            "perplexity": torch.exp(nll).tolist(), "mean_nll": float(nll.mean())}


@dataclass
class TokenModelResult:
    """What :func:`pretrain_token_model` returns.

    Attributes
    ----------
    model : TokenTransformer
        The trained model, in eval mode.
    history : skorch.history.History
        Per epoch: ``train_loss``, ``train_steps``, ``lr``, ``dur`` and, with validation
        codes, ``valid_nll`` and ``valid_accuracy_<q>`` per level.
    output_dir : Path
        The run folder.
    resumed_from : Path | None
        The checkpoint the run resumed from.
    """

    model: TokenTransformer
    history: History
    output_dir: Path
    resumed_from: Path | None = None


def _claim_folder(output_dir, settings):
    """Refuse a non-empty folder that is not a token-model run; mark ours."""
    marker = output_dir / RUN_MARKER
    if output_dir.is_dir() and any(output_dir.iterdir()) and not marker.is_file():
        raise ValueError(
            f"{output_dir} is not empty and holds no {RUN_MARKER}: it is not a token-model "
            "run folder, and nothing in it was changed. Pass a new or empty output folder.")
    if not marker.is_file():
        with atomic_write(marker) as tmp:
            tmp.write_text(json.dumps({"format": _RUN_FORMAT, "settings": settings},
                                      indent=2, sort_keys=True))


def _epoch_indices(n_sequences, n_samples, seed, epoch):
    """``n_samples`` sequence indices for one epoch: seeded permutations, repeated."""
    rng = np.random.default_rng([seed, epoch])
    reps = -(-n_samples // n_sequences)
    return np.concatenate([rng.permutation(n_sequences) for _ in range(reps)])[:n_samples]


def _check_codes(codes, name, n_q, codebook_size):
    codes = np.asarray(codes)
    if codes.ndim != 3 or codes.dtype.kind not in "iu" or len(codes) == 0:
        raise ValueError(f"{name} must be a non-empty integer array (n_sequences, n_q, "
                         f"n_frames); got {codes.dtype} of shape {codes.shape}.")
    if codes.shape[1] != n_q or codes.max() >= codebook_size or codes.min() < 0:
        raise ValueError(f"{name} must hold {n_q} levels of codes in 0..{codebook_size - 1} "
                         f"(the model config); got shape {codes.shape}, codes "
                         f"{codes.min()}..{codes.max()}. Tokenise with the config's codec.")
    return codes


def make_net(config, lr, batch_size, total_steps, warmup_steps, final_lr_ratio, weight_decay,
             device, verbose=0):
    """The :class:`TokenModelNet` of a run (AdamW, warm-up + cosine, clipping at 1)."""
    return TokenModelNet(
        MaskedCodeModelling, module__config=config, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW, optimizer__weight_decay=weight_decay,
        optimizer__betas=(0.9, 0.98), lr=lr, batch_size=batch_size, max_epochs=1,
        train_split=None, iterator_train__shuffle=False, device=str(device), verbose=verbose,
        callbacks=[("lr_schedule", WarmupCosine(total_steps, warmup_steps, final_lr_ratio)),
                   ("grad_clip", GradientNormClipping(1.0))])


def pretrain_token_model(train_codes, output_dir, *, valid_codes=None, config=None, init=None,
                         lr=5e-4, batch_size=64, steps_per_epoch=100, max_epochs=20,
                         warmup_steps=200, final_lr_ratio=0.05, weight_decay=0.01, seed=0,
                         n_threads=None, device=None, resume=True, progress=True,
                         codec_info=None, extra_metadata=None):
    """Pretrain a token model by masked code modelling, resumably.

    Parameters
    ----------
    train_codes : ndarray, shape (n_sequences, n_q, n_frames)
        Token sequences (one channel's window each), e.g. from
        :func:`~mne_biocodec.tokenmodel.data.build_token_corpus`.
    output_dir : path-like
        Run folder: ``checkpoints/``, ``history.json`` and the final
        ``token-model.safetensors`` (+ ``.json``). A non-empty folder that is not a
        token-model run is refused.
    valid_codes : ndarray, shape (n_valid, n_q, n_frames) | None
        Sequences scored after every epoch (fixed schedule: deterministic).
    config : dict | None
        Model config (:data:`~mne_biocodec.tokenmodel.model.TOKEN_MODEL_CONFIG`); ignored
        with ``init``.
    init : TokenTransformer | None
        Model to continue from (its config is used).
    lr, batch_size, steps_per_epoch, max_epochs, warmup_steps, final_lr_ratio, weight_decay
        AdamW's peak learning rate, sequences per step, steps per epoch (checkpoint
        interval), epochs, linear warm-up steps, final fraction of the learning rate
        (cosine decay), weight decay.
    seed : int, default=0
        Seeds the initial weights, the sequences of each epoch and the masks.
    n_threads : int | None
        Torch threads (None: leave torch's setting).
    device : str | None
        ``"cuda"`` when available, else ``"cpu"``.
    resume : bool, default=True
        Continue from the newest intact checkpoint; False refuses a folder that has some.
    progress : bool, default=True
        Print one line per epoch.
    codec_info, extra_metadata : dict | None
        Stored with the final model (:func:`~mne_biocodec.tokenmodel.save_token_model`).

    Returns
    -------
    result : TokenModelResult

    Raises
    ------
    ValueError
        If the codes are not integer sequences of the config's levels and codebook, or
        ``output_dir`` cannot be used: not a token-model run, checkpoints of another run
        (another config or corpus shape), none intact, or ``resume=False`` with
        checkpoints. Nothing is overwritten.
    """
    config = check_token_model_config(dict(init.config) if init is not None else (config or {}))
    train_codes = _check_codes(train_codes, "train_codes", config["n_q"],
                               config["codebook_size"])
    if valid_codes is not None:
        valid_codes = _check_codes(valid_codes, "valid_codes", config["n_q"],
                                   config["codebook_size"])
    output_dir = Path(output_dir)
    settings = {"lr": lr, "batch_size": batch_size, "steps_per_epoch": steps_per_epoch,
                "warmup_steps": warmup_steps, "final_lr_ratio": final_lr_ratio,
                "weight_decay": weight_decay, "seed": seed}
    run_info = dict(settings, config=config, train_segments=list(train_codes.shape))
    checkpoint_dir = output_dir / "checkpoints"
    if not checkpoint_folders(checkpoint_dir):
        _claim_folder(output_dir, run_info)
    point = resume_point(checkpoint_dir, resume, run_info)
    if point.folder is not None and progress:
        print(f"Resuming from {point.folder} ({point.epochs} epochs trained).", flush=True)
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    device = default_device(device)
    torch.manual_seed(seed)
    net = make_net(config, lr, batch_size, max_epochs * steps_per_epoch, warmup_steps,
                   final_lr_ratio, weight_decay, device)
    net.initialize()
    if init is not None:
        net.module_.model.load_state_dict(init.state_dict())
    if point.folder is not None:
        net.history = read_checkpoint(point.folder, net.module_, net.optimizer_, device)
    n_samples = steps_per_epoch * batch_size
    for epoch in range(point.epochs, max_epochs):
        t0 = time.perf_counter()
        net.partial_fit(train_codes[_epoch_indices(len(train_codes), n_samples, seed, epoch)])
        if valid_codes is not None:
            metrics = masked_token_metrics(net.module_.model, valid_codes)
            net.history.record("valid_nll", metrics["mean_nll"])
            for q, acc in enumerate(metrics["accuracy"]):
                net.history.record(f"valid_accuracy_{q}", acc)
        net.history.record("dur", time.perf_counter() - t0)
        write_checkpoint(checkpoint_dir, f"epoch-{epoch + 1:04d}", net.module_, net.optimizer_,
                         net.history, run_info=run_info)
        if progress:
            row = net.history[-1]
            valid = (f", valid_nll {row['valid_nll']:.4f}, valid_acc0 "
                     f"{row['valid_accuracy_0']:.3f}" if "valid_nll" in row else "")
            print(f"epoch {epoch + 1}/{max_epochs} step {row.get('train_steps', 0)}: "
                  f"train_loss {row['train_loss']:.4f}{valid} ({row['dur']:.0f} s)",
                  flush=True)
    model = net.module_.model.eval()
    history = net.history
    summary = {"epochs": len(history), "train_steps": int(history[-1].get("train_steps", 0))
               if len(history) else 0, "train_sequences": list(train_codes.shape),
               "settings": settings}
    if len(history):
        summary["train_loss"] = float(history[-1, "train_loss"])
        if "valid_nll" in history[-1]:
            summary["valid_nll"] = float(history[-1, "valid_nll"])
    save_token_model(model, output_dir / FINAL_NAME, codec_info,
                     dict(extra_metadata or {}, training=summary))
    with atomic_write(output_dir / "history.json") as tmp:
        history.to_file(str(tmp))
    return TokenModelResult(model, history, output_dir, point.folder)


# -- recipes ----------------------------------------------------------------------------------
#: Keys of a token-model recipe and their types; every key is required, so that a recipe
#: fixes everything that shapes the run.
RECIPE_KEYS = {"name": str, "codec": str, "split_version": str, "window_seconds": float,
               "max_sequences_per_recording": int, "valid_sequences": int, "config": dict,
               "lr": float, "batch_size": int, "steps_per_epoch": int, "max_epochs": int,
               "warmup_steps": int, "final_lr_ratio": float, "weight_decay": float,
               "seed": int, "n_threads": (int, type(None)), "notes": str}


def load_token_recipe(path):
    """Read and check a token-model recipe JSON (:data:`RECIPE_KEYS`).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a JSON object with exactly the recipe keys, of the right types.
    """
    from ..training.settings import read_json_object

    recipe = read_json_object(path, what="Token-model recipe")
    missing = sorted(set(RECIPE_KEYS) - set(recipe))
    unknown = sorted(set(recipe) - set(RECIPE_KEYS))
    if missing or unknown:
        raise ValueError(f"Token-model recipe {path}: missing keys {missing}, unknown keys "
                         f"{unknown}; the keys are {sorted(RECIPE_KEYS)}.")
    for key, kind in RECIPE_KEYS.items():
        value = recipe[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            recipe[key] = value = float(value)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"Token-model recipe {path}: {key!r} must be "
                             f"{getattr(kind, '__name__', kind)}; got {value!r:.80}.")
    check_token_model_config(recipe["config"])
    return recipe


def _recipe_corpus(recipe, codec, output_dir, progress):
    """The training corpus of a recipe, built once and kept in the run folder."""
    from ..datasets.splits import iter_split_raws
    from .data import build_token_corpus, load_token_corpus, save_token_corpus

    info = {"codec_sha256": codec.weights_sha256(), "split": "train",
            "split_version": recipe["split_version"], "modality": codec.modality,
            "window_seconds": recipe["window_seconds"],
            "max_sequences_per_recording": recipe["max_sequences_per_recording"],
            "seed": recipe["seed"]}
    path = output_dir / "corpus-train.safetensors"
    if path.is_file():
        codes, recording, names, saved = load_token_corpus(path)
        if saved == info:
            return codes, names
        raise ValueError(f"{path} was built with other settings ({saved}) than the recipe's "
                         f"({info}); pass another output folder.")
    raws = iter_split_raws("train", codec.modality, version=recipe["split_version"])
    codes, recording, names = build_token_corpus(
        codec, raws, recipe["window_seconds"], recipe["max_sequences_per_recording"],
        recipe["seed"], progress=progress)
    save_token_corpus(path, codes, recording, names, info)
    return codes, names


def pretrain_from_recipe(recipe, out=None, max_epochs=None, device=None, progress=True):
    """Build the training corpus of a recipe (codec-training split only) and pretrain.

    Parameters
    ----------
    recipe : path-like
        A recipe JSON (``recipes/token-model.json``).
    out : path-like | None
        Run folder (default ``runs/<name>``); rerun with the same folder to resume.
    max_epochs : int | None
        Overrides the recipe's.
    device : str | None
        Where to train and to run the codec.
    progress : bool, default=True
        Print progress.

    Returns
    -------
    result : TokenModelResult
    """
    from ..codec import load_codec

    path = recipe
    recipe = load_token_recipe(path)
    output_dir = Path(out) if out is not None else Path("runs") / recipe["name"]
    if not checkpoint_folders(output_dir / "checkpoints"):
        _claim_folder(output_dir, {"recipe": recipe})
    if recipe["n_threads"] is not None:
        torch.set_num_threads(recipe["n_threads"])
    codec = load_codec(recipe["codec"], device=device)
    codes, names = _recipe_corpus(recipe, codec, output_dir, progress)
    rng = np.random.default_rng(recipe["seed"])
    valid = np.zeros(len(codes), dtype=bool)
    valid[rng.choice(len(codes), min(recipe["valid_sequences"], len(codes) // 10),
                     replace=False)] = True
    if progress:
        print(f"corpus: {len(codes)} sequences of {codes.shape[1]} x {codes.shape[2]} codes "
              f"from {len(names)} recordings; {int(valid.sum())} kept for validation",
              flush=True)
    codec_info = {"name": codec.config.get("name"), "source": str(recipe["codec"]),
                  "weights_sha256": codec.weights_sha256(), "modality": codec.modality,
                  "sample_rate": codec.sample_rate, "n_q": codec.n_q,
                  "codebook_size": codec.codebook_size}
    extra = {"recipe": recipe, "window_frames": int(codes.shape[2]),
             "train_recordings": names}
    return pretrain_token_model(
        codes[~valid], output_dir, valid_codes=codes[valid], config=recipe["config"],
        lr=recipe["lr"], batch_size=recipe["batch_size"],
        steps_per_epoch=recipe["steps_per_epoch"],
        max_epochs=max_epochs or recipe["max_epochs"], warmup_steps=recipe["warmup_steps"],
        final_lr_ratio=recipe["final_lr_ratio"], weight_decay=recipe["weight_decay"],
        seed=recipe["seed"], device=device, progress=progress, codec_info=codec_info,
        extra_metadata=extra)
