"""Figures of a run: ice-ball extent over time and the isotherm map.

The functions take plain arrays (and the scenario, for the probe and the
bone); :meth:`cryosim.post.results.Results.plot` and
:meth:`~cryosim.post.results.Results.plot_field` call them with a run's data.
"""

from __future__ import annotations

import math

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_extents", "plot_field"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_extents(time_s: np.ndarray, extents: Mapping[float, Mapping[str, np.ndarray]], title: str = "",
                 path: str | Path | None = None):
    """Width, length and volume of each isotherm against time.

    ``extents[iso_C][measure]``: series over ``time_s`` (s), SI units. Saved
    to ``path`` (and closed) when given; returns the Figure.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    t = time_s
    for iso, s in extents.items():
        axes[0].plot(t, 1e3 * s["width_m"], label=f"{iso:g} °C")
        axes[1].plot(t, 1e3 * s["length_m"], label=f"{iso:g} °C")
        axes[2].plot(t, 1e9 * s["volume_m3"], label=f"{iso:g} °C")
    for ax, lab in zip(axes, ("radial width (mm)", "length along probe (mm)", "volume (mm³)")):
        ax.set_xlabel("time (s)")
        ax.set_ylabel(lab)
        ax.ticklabel_format(useOffset=False)  # no "+1e3" offsets: the values as they are
        ax.grid(alpha=0.3)
    axes[0].legend(title="isotherm")
    fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig


def plot_field(final_field: Mapping[str, np.ndarray], scenario: Any, *, t_s: float, reach_m: float,
               path: str | Path | None = None):
    """Temperature in the (r, z) section (mirrored about the axis) or the 3D section y = 0, with
    the scenario's isotherms, probe and bone.

    ``final_field``: the layout of :attr:`cryosim.post.results.Results.final_field`
    ("axisymmetric" or "3d"); ``t_s``: its time (s); ``reach_m``: radius of the
    warmest isotherm (m), which sets the view. Saved to ``path`` (and closed)
    when given; returns the Figure.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle
    from matplotlib.tri import Triangulation

    f = final_field
    geometry = str(f["geometry"])
    if geometry == "axisymmetric":
        p, tri, T = f["points_m"], f["cells"], f["temperature_C"]
        mirror = True
    elif geometry == "3d":
        p, tri, T = _section_y0(f["points_m"], f["cells"], f["temperature_C"])
        mirror = False
    else:
        raise ValueError(f"plot_field needs an axisymmetric or 3d field, not {geometry!r}")
    sc = scenario
    probe = sc.probe
    fig, ax = plt.subplots(figsize=(6.4, 6.0), constrained_layout=True)
    iso = sorted(sc.isotherms_C, reverse=True)
    # round levels every 5 K (ticks on whole tens), the colour map centred on 0 °C (white at the ice edge)
    from matplotlib.colors import TwoSlopeNorm

    lo = 5.0 * math.floor(min(float(T.min()), -80.0) / 5.0)
    hi = 5.0 * math.ceil(max(float(T.max()), float(sc.initial_temperature_C)) / 5.0)
    levels = np.arange(lo, hi + 2.5, 5.0)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=lo, vmax=hi) if lo < 0.0 < hi else None
    styles = ["solid", "dashed", "dotted", "dashdot"]
    for sign in ((1.0, -1.0) if mirror else (1.0,)):
        tr = Triangulation(sign * 1e3 * p[:, 0], 1e3 * p[:, 1], tri)
        cf = ax.tricontourf(tr, T, levels=levels, cmap="coolwarm", norm=norm)
        for k, level in enumerate(iso):
            ax.tricontour(tr, T, levels=[level], colors="k", linewidths=1.2, linestyles=styles[k % len(styles)])
    for k, level in enumerate(iso):
        ax.plot([], [], color="k", linestyle=styles[k % len(styles)], label=f"{level:g} °C")
    rp_mm, La_mm = 1e3 * probe.radius_m, 1e3 * probe.active_length_m
    top = 1e3 * float(p[:, 1].max())
    ax.add_patch(Rectangle((-rp_mm, 0), 2 * rp_mm, La_mm, color="#3060c0", zorder=3, label="active tip"))
    ax.add_patch(Rectangle((-rp_mm, La_mm), 2 * rp_mm, top - La_mm, color="0.6", zorder=3, label="insulated shaft"))
    if sc.bone is not None:
        _draw_bone(ax, sc.bone, mirror)
    R = 1e3 * max(1.4 * reach_m, 3 * probe.radius_m)
    ax.set_xlim(-R, R)
    ax.set_ylim(-0.8 * R, La_mm + 0.8 * R)
    ax.set_aspect("equal")
    ax.set_xlabel("r (mm)" if mirror else "x (mm), section y = 0")
    ax.set_ylabel("z along probe (mm)")
    ax.legend(loc="lower right", fontsize=8)
    fig.colorbar(cf, ax=ax, label="temperature (°C)", ticks=np.arange(10.0 * math.ceil(lo / 10.0), hi + 1e-9, 10.0))
    ax.set_title(f"t = {t_s:g} s")
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig


def _section_y0(points_m: np.ndarray, tets: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles of the plane y = 0 cut through a P1 tetrahedral field (x, z coordinates)."""
    try:
        import pyvista as pv
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("the 3D section plot needs pyvista: pip install cryosim[fem]") from e
    cells = np.hstack([np.full((tets.shape[0], 1), 4), tets]).ravel()
    grid = pv.UnstructuredGrid(cells, np.full(tets.shape[0], pv.CellType.TETRA), np.asarray(points_m, float))
    grid.point_data["T"] = np.asarray(T, float)
    cut = grid.slice(normal="y", origin=(0.0, 0.0, 0.0)).triangulate()
    faces = cut.faces.reshape(-1, 4)[:, 1:]
    pts = np.asarray(cut.points)
    return np.stack([pts[:, 0], pts[:, 2]], axis=1), faces, np.asarray(cut.point_data["T"])


def _draw_bone(ax, bone, mirror: bool) -> None:
    """Layer boundaries of a bone plate in the y = 0 section: lines n . p = d (mm)."""
    import math

    a = math.radians(bone.angle_deg)
    nx, nz = math.cos(a), -math.sin(a)
    d0 = 1e3 * bone.distance_m
    tc, ts = 1e3 * bone.cortical_thickness_m, 1e3 * bone.cancellous_thickness_m
    for k, d in enumerate((d0, d0 + tc, d0 + tc + ts, d0 + 2 * tc + ts)):
        # a point on the line and its direction (perpendicular to the normal)
        p0, direction = (d * nx, d * nz), (-nz, nx)
        label = "bone layers" if k == 0 else None
        ax.axline(p0, (p0[0] + direction[0], p0[1] + direction[1]), color="0.2", lw=1.0, ls=(0, (4, 2)), label=label)
        if mirror:
            ax.axline((-p0[0], p0[1]), (-p0[0] - direction[0], p0[1] + direction[1]), color="0.2", lw=1.0, ls=(0, (4, 2)))
