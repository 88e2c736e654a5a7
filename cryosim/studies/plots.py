"""Plots of a sweep: every ice-ball measure against every swept parameter (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..post.files import atomic_write, slug
from .point import measure_column

__all__ = ["PLOTTED_MEASURES", "plot_sweep"]

#: Measures plotted (the table has them all): the ones a probe's instructions
#: for use quote, in the unit they are quoted in.
PLOTTED_MEASURES = {"width_m": ("width", "mm", 1e3), "length_m": ("length", "mm", 1e3),
                    "volume_m3": ("volume", "mm³", 1e9)}


def plot_sweep(df: pd.DataFrame, parameters: list[str], isotherms_C: list[float], folder: Path) -> list[Path]:
    """One PNG per numeric swept parameter: a panel per measure, one colour per isotherm (largest over the run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"] if "status" in df else df
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for path in parameters:
        x = pd.to_numeric(ok[path], errors="coerce") if path in ok else None
        if x is None or x.isna().all():
            continue  # a parameter of names (a material, a coolant) has no axis
        fig, axes = plt.subplots(1, len(PLOTTED_MEASURES), figsize=(4.2 * len(PLOTTED_MEASURES), 3.6),
                                 layout="constrained")
        for ax, (m, (label, unit, scale)) in zip(axes, PLOTTED_MEASURES.items()):
            for iso in isotherms_C:
                col = measure_column(m, iso)
                if col in ok:
                    ax.plot(x, scale * ok[col], "o", ms=3, alpha=0.6, label=f"{iso:g} °C")
            ax.set_xlabel(path)
            ax.set_ylabel(f"{label} ({unit})")
            ax.grid(alpha=0.3)
        axes[0].legend(title="isotherm", fontsize=8)
        fig.suptitle(f"largest ice ball over the run vs {path} ({len(ok)} points)")
        target = folder / f"{slug(path)}.png"
        with matplotlib.rc_context({"text.parse_math": False}):
            try:
                atomic_write(target, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=110), mode="wb")
            finally:
                plt.close(fig)
        written.append(target)
    return written
