"""``loss.png``: the training loss per step (smoothed) and the validation figures per validation.

Drawn from the run's ``log.jsonl`` alone, so it can be redrawn for any run (also one that
was resumed: a step logged twice counts once, the later line wins):
``python -m graycodec.training.plots runs/NAME``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def read_log(path: Path) -> tuple[dict, dict]:
    """(training records by step, validation records by step) from a log.jsonl."""
    train, val = {}, {}
    for line in Path(path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line cut short by a crash
            continue
        (val if "val" in rec else train)[rec["step"]] = rec
    return train, val


def ema(values, alpha: float) -> np.ndarray:
    out, acc = np.empty(len(values)), None
    for i, v in enumerate(values):
        acc = v if acc is None else alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def plot_log(log_path: Path, out_path: Path) -> Path:
    """Write the loss-curve figure for ``log_path`` to ``out_path``; return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = read_log(log_path)
    vsteps = sorted(val)
    levels = list(val[vsteps[-1]]["val"]) if val else []
    fig, axes = plt.subplots(1, 1 + len(levels), figsize=(4.5 * (1 + len(levels)), 3.8), squeeze=False)
    ax_loss = axes[0, 0]
    if train:
        steps = np.array(sorted(train))
        loss = np.array([train[s]["loss"] for s in steps])
        ax_loss.plot(steps, loss, color="0.8", lw=0.6, label="per step")
        ax_loss.plot(steps, ema(loss, min(1.0, 20 / len(loss) + 0.02)), color="C0", label="smoothed")
        ax_loss.set_yscale("log")
        ax_loss.legend(loc="upper right")
    ax_loss.set(xlabel="step", ylabel="MSE on a/b / 110²", title="training loss")

    # One panel per hint level: the predictor's ΔE94 and CIEDE2000 against its baseline's.
    for ax, level in zip(axes[0, 1:], levels):
        xs = [s for s in vsteps if level in val[s]["val"]]
        base = val[vsteps[-1]].get("baselines", {}).get("gray" if level == "none" else f"bilinear_{level}", {})
        base_name = "gray" if level == "none" else "bilinear"
        for i, (metric, name) in enumerate((("de94", "ΔE94"), ("de2000", "CIEDE2000"))):
            ax.plot(xs, [val[s]["val"][level][metric] for s in xs], "o-", color=f"C{i}", label=name)
            if metric in base:
                ax.axhline(base[metric], color=f"C{i}", ls="--", lw=1, label=f"{name}, {base_name}")
        ax.set(xlabel="step", ylabel="mean colour difference", title=f"validation, hints {level}")
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path


if __name__ == "__main__":
    run = Path(sys.argv[1])
    print(plot_log(run / "log.jsonl", run / "loss.png"))
