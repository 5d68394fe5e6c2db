"""Progress of a resumable codec run: steps done, held-out fidelity, speed, time left.

Usage::

    python recipes/train_progress.py runs/biocodec-eeg-v2 recipes/biocodec-eeg-v2.json

Reads only the newest intact checkpoint (``mne_biocodec.training.latest_checkpoint``), so
it is safe to run while the training writes the next one.
"""

import argparse
import json
from pathlib import Path


def progress(run, recipe_path):
    """A dict of the run's state (``steps``, ``total_steps``, ``valid_r``, ...)."""
    from mne_biocodec.training import latest_checkpoint
    from mne_biocodec.training.recipe import load_recipe

    recipe = load_recipe(recipe_path)
    total = recipe["max_epochs"] * recipe["steps_per_epoch"]
    folder = latest_checkpoint(Path(run) / "checkpoints")
    if folder is None:
        return {"run": str(run), "checkpoint": None, "steps": 0, "total_steps": total}
    history = json.loads((folder / "history.json").read_text())
    last = history[-1]
    recent = history[-5:]
    seconds_per_step = (sum(h["dur"] for h in recent)
                        / (len(recent) * recipe["steps_per_epoch"]))
    steps = int(last["train_steps"])
    return {"run": str(run), "checkpoint": folder.name, "epochs": len(history),
            "steps": steps, "total_steps": total,
            "train_loss": last["train_loss"], "valid_r": last.get("valid_r"),
            "valid_si_sdr": last.get("valid_si_sdr"), "lr": last.get("lr"),
            "seconds_per_step_recent": seconds_per_step,
            "hours_left_at_that_speed": (total - steps) * seconds_per_step / 3600,
            "best_valid_r": max((h.get("valid_r") or 0.0) for h in history)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("recipe")
    args = parser.parse_args(argv)
    state = progress(args.run, args.recipe)
    if state["checkpoint"] is None:
        print(f"{args.run}: no checkpoint yet (0 / {state['total_steps']} steps)")
        return state
    print(f"{args.run}: {state['checkpoint']}, step {state['steps']} / {state['total_steps']}"
          f"; train loss {state['train_loss']:.4f}; held-out r {state['valid_r']:.4f}, "
          f"SI-SDR {state['valid_si_sdr']:.2f} dB; lr {state['lr']:.2e}; "
          f"{state['seconds_per_step_recent']:.2f} s/step recently, "
          f"~{state['hours_left_at_that_speed']:.1f} h left at that speed")
    return state


if __name__ == "__main__":
    main()
