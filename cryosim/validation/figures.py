"""Figures of the validation report (matplotlib, Agg backend): fronts against exact solutions, energy terms, trends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_front", "plot_energy", "plot_wolter"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- plots --------------------------------------------------------------------------
def plot_front(path: Path, t_num: np.ndarray, x_num: np.ndarray, t_ex: np.ndarray | None, x_ex: np.ndarray | None,
               ylabel: str, exact_label: str, hline: float | None = None) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    if t_ex is not None and x_ex is not None:
        ax.plot(t_ex, 1e3 * np.asarray(x_ex), "k-", lw=2.5, alpha=0.35, label=exact_label)
    if hline is not None:
        ax.axhline(1e3 * hline, color="k", lw=2.5, alpha=0.35, label=exact_label)
    ax.plot(t_num, 1e3 * np.asarray(x_num), "C0--", lw=1.3, label="cryosim (fast solver)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel + " (mm)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_energy(path: Path, r: Any) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    labels = {"probe_J": "through the probe", "enthalpy_change_J": "change of total enthalpy",
              "perfusion_J": "perfusion", "metabolic_J": "metabolic", "far_boundary_J": "far boundary",
              "imbalance_J": "imbalance"}
    for k, lab in labels.items():
        ax.plot(r.time_s, r.energy[k], label=lab, lw=2.0 if k == "imbalance_J" else 1.3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cumulative energy (J)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_wolter(path: Path, ratios: dict, published: dict, measures: list[str], baths: list[float],
                coolings: list[str], large: list[str], tol: float) -> None:
    plt = _plt()
    panels = [("T1", ""), ("T2", "")] + [("T3", k) for k in large]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.8), sharey=False)
    combos = [(b, c) for b in baths for c in coolings]
    width = 0.8 / len(combos)
    for ax, (tid, var) in zip(axes, panels):
        ref = float(published[tid]["published_ratio"])
        x = np.arange(len(measures))
        for i, (b, c) in enumerate(combos):
            v = [ratios[(tid, var, b, c, m)] for m in measures]
            ax.bar(x + (i - (len(combos) - 1) / 2) * width, v, width, label=f"{b:g} °C, {c}")
        ax.axhspan(ref * (1 - tol), ref * (1 + tol), color="k", alpha=0.12)
        ax.axhline(ref, color="k", lw=1.2)
        ax.set_xticks(x, [m.replace("_m3", "").replace("_m2", "").replace("_m", "") for m in measures], rotation=45)
        ax.set_title(f"{tid} {var.replace('_', ' ')}".strip(), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("size ratio (model); line: published")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- report -------------------------------------------------------------------------
