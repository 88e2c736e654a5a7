"""An off-screen picture of the ice ball, for reports and talks.

:func:`render_ice_ball` draws the 0 °C surface (a contour of the P1 field)
with pyvista, off screen, to PNG: in 3D the isosurface itself; for an
axisymmetric field the (r, z) section is revolved about the axis first, so
the picture shows the same ice ball. The -20 and -40 °C surfaces inside it,
the probe(s), and the scenario's bone plate and vessels are drawn too, with a
legend. (The field over time is :mod:`cryosim.post.series`: ``temperature.pvd``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["render_ice_ball"]

#: Number of angular sectors when revolving an (r, z) field for rendering.
REVOLVE_SECTORS = 48
#: Picture size (pixels).
WINDOW_SIZE = (1100, 760)
#: Colours of the picture (isotherms warm to cold, probe, bone, vessel).
#: (A legend row's text takes its entry's colour: none is pale.)
ISO_COLORS = ("steelblue", "royalblue", "navy")
TIP_COLOR, PROBE_COLOR, BONE_COLOR, VESSEL_COLOR = "gray", "dimgray", "peru", "firebrick"


def _require_pyvista() -> Any:
    try:
        import pyvista as pv
    except ImportError as e:  # pragma: no cover
        raise ImportError("rendering the ice ball needs pyvista: pip install 'cryosim[fem]' (or pyvista>=0.43)") from e
    pv.OFF_SCREEN = True
    try:  # off-screen rendering without a display logs "bad X server connection" as a warning: only errors shown
        from vtkmodules.vtkCommonCore import vtkLogger

        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)
    except ImportError:  # pragma: no cover - an older VTK without the logger
        pass
    return pv


def _revolve(points_rz: np.ndarray, triangles: np.ndarray, T: np.ndarray, sectors: int) -> tuple:
    """Revolve (r, z) triangles about r = 0 into wedges (6-node prisms) for rendering."""
    n = points_rz.shape[0]
    ang = np.linspace(0.0, 2.0 * np.pi, sectors + 1)[:-1]
    pts = np.concatenate([np.column_stack([points_rz[:, 0] * np.cos(a), points_rz[:, 0] * np.sin(a), points_rz[:, 1]])
                          for a in ang])
    vals = np.tile(T, sectors)
    cells = []
    for k in range(sectors):
        o0, o1 = k * n, ((k + 1) % sectors) * n
        cells.append(np.column_stack([triangles + o0, triangles + o1]))
    return pts, np.vstack(cells), vals


def render_ice_ball(field: dict[str, np.ndarray], path: Path, iso_C: float = 0.0, title: str | None = None,
                    scenario: Any = None) -> Path:
    """Render the ``iso_C`` isotherm surface of a final P1 field to a PNG (off screen), with a legend.

    ``field`` is :attr:`cryosim.post.results.Results.final_field` of an
    "axisymmetric" or "3d" run. The -20 and -40 °C surfaces are drawn when
    colder than ``iso_C`` and reached. With ``scenario`` (a
    :class:`~cryosim.scenario.Scenario`), its probes (the active tip and the
    shaft, as cylinders), bone plate and vessels are drawn, cut to the
    pictured region; without, the probe axis is a line. Lengths on the axes
    are in mm.
    """
    pv = _require_pyvista()
    T = np.asarray(field["temperature_C"], float)
    geometry = str(field["geometry"])
    if geometry == "axisymmetric":
        pts, cells, vals = _revolve(np.asarray(field["points_m"]), np.asarray(field["cells"]), T, REVOLVE_SECTORS)
        celltype = pv.CellType.WEDGE
        npc = 6
    elif geometry == "3d":
        pts, cells, vals = np.asarray(field["points_m"]), np.asarray(field["cells"]), T
        celltype = pv.CellType.TETRA
        npc = 4
    else:
        raise ValueError(f"render_ice_ball needs an axisymmetric or 3d field, not {geometry!r}")
    conn = np.hstack([np.full((cells.shape[0], 1), npc), cells]).ravel()
    grid = pv.UnstructuredGrid(conn, np.full(cells.shape[0], celltype, np.uint8), 1e3 * pts)
    grid.point_data["temperature_C"] = vals
    box = _box_around(grid, vals, iso_C) if np.any(vals <= iso_C) else list(grid.bounds)
    near = grid.clip_box(box, invert=False) if np.any(vals <= iso_C) else grid
    plotter = pv.Plotter(off_screen=True, window_size=WINDOW_SIZE)
    legend: list[tuple[str, str]] = []
    levels = [iso_C] + [v for v in (-20.0, -40.0) if v < iso_C and np.any(vals <= v)]
    for k, (v, c) in enumerate(zip(levels, ISO_COLORS)):
        s = near.contour([v], scalars="temperature_C")
        if s.n_points:
            plotter.add_mesh(s, color=c, opacity=0.85 if k == 0 else 0.6, smooth_shading=k == 0)
            legend.append((f"{v:g} °C isotherm", c))
    if scenario is not None:
        legend += _add_scene(pv, plotter, scenario, box)
    else:
        zs = 1e3 * np.asarray(pts)[:, 2]
        axis = pv.Line((0.0, 0.0, max(float(zs.min()), -5.0)), (0.0, 0.0, min(float(zs.max()), 15.0)))
        plotter.add_mesh(axis, color="black", line_width=4)
        legend.append(("probe axis", "black"))
    plotter.add_text(title or f"{iso_C:g} °C isotherm", font_size=12)
    if legend:
        plotter.add_legend(labels=[[lab, c, "rectangle"] for lab, c in legend], bcolor="white", border=True,
                           size=(0.22, 0.045 * len(legend) + 0.02), loc="upper right")
    plotter.show_bounds(grid="back", xtitle="x (mm)", ytitle="y (mm)", ztitle="z (mm)", fmt="%.0f")
    plotter.camera_position = "xz"
    plotter.camera.azimuth = 30
    plotter.camera.elevation = 20
    plotter.camera.zoom(0.85)
    path = Path(path)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def _add_scene(pv: Any, plotter: Any, scenario: Any, box: list[float]) -> list[tuple[str, str]]:
    """Draw the probes, the bone plate and the vessels of ``scenario`` (mm) cut to ``box``; their legend rows."""
    legend: list[tuple[str, str]] = []
    span = 2.0 * max(box[1] - box[0], box[3] - box[2], box[5] - box[4], 1.0)  # longer than the box, mm

    def clipped(mesh: Any) -> Any:
        return mesh.triangulate().clip_box(box, invert=False).extract_surface(algorithm="dataset_surface")

    probe = scenario.probe
    r_mm, act_mm = 1e3 * probe.radius_m, 1e3 * probe.active_length_m
    placements = [((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))] + [(tuple(1e3 * np.asarray(p.position_m)), p.direction)
                                                         for p in getattr(scenario, "extra_probes", ())]
    for pos, d in placements:
        d = np.asarray(d, float)
        tip = pv.Cylinder(center=np.asarray(pos) + 0.5 * act_mm * d, direction=d, radius=r_mm, height=act_mm,
                          resolution=40)
        shaft = pv.Cylinder(center=np.asarray(pos) + (act_mm + 0.5 * span) * d, direction=d, radius=r_mm,
                            height=span, resolution=40)
        plotter.add_mesh(clipped(tip), color=TIP_COLOR, smooth_shading=True)
        plotter.add_mesh(clipped(shaft), color=PROBE_COLOR, smooth_shading=True)
    legend += [("probe: active tip", TIP_COLOR), ("probe: shaft", PROBE_COLOR)]
    bone = getattr(scenario, "bone", None)
    if bone is not None:
        d0, th = 1e3 * bone.distance_m, 1e3 * bone.thickness_m
        slab = pv.Box(bounds=(d0, d0 + th, -span, span, -span, span)).rotate_y(bone.angle_deg, point=(0, 0, 0))
        part = clipped(slab)
        if part.n_points:
            plotter.add_mesh(part, color=BONE_COLOR, opacity=0.7)
            legend.append(("bone", BONE_COLOR))
    shown = False
    for v in getattr(scenario, "vessels", ()):
        tube = pv.Cylinder(center=1e3 * np.asarray(v.center_m), direction=v.direction, radius=0.5e3 * v.diameter_m,
                           height=2 * span, resolution=40)
        part = clipped(tube)
        if part.n_points:
            plotter.add_mesh(part, color=VESSEL_COLOR, opacity=0.8, smooth_shading=True)
            shown = True
    if shown:
        legend.append(("vessel", VESSEL_COLOR))
    return legend


def _box_around(grid: Any, vals: np.ndarray, iso_C: float) -> list[float]:
    """Bounds (mm) of the region at or below ``iso_C``, padded, to crop the far field."""
    p = np.asarray(grid.points)[vals <= iso_C]
    lo, hi = p.min(axis=0), p.max(axis=0)
    pad = 0.3 * float(np.max(hi - lo)) + 1.0
    return [lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad, lo[2] - pad, hi[2] + pad]
