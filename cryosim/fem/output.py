"""Field output for ParaView (VTX / ADIOS2, or XDMF) and an off-screen picture of the ice ball.

* :class:`FieldWriter` writes the P1 temperature (°C) over time to
  ``temperature.bp`` (VTX, opens in ParaView >= 5.12 with the ADIOS2 VTX
  reader) when DOLFINx was built with ADIOS2, else to ``temperature.xdmf``.
* :func:`render_ice_ball` draws the 0 °C surface (a contour of the P1 field)
  with pyvista, off screen, to PNG: in 3D the isosurface itself with the
  probe axis; for an axisymmetric field the (r, z) section is revolved about
  the axis first, so the picture shows the same ice ball.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FieldWriter", "render_ice_ball"]

#: Number of angular sectors when revolving an (r, z) field for rendering.
REVOLVE_SECTORS = 48
#: Picture size (pixels).
WINDOW_SIZE = (900, 700)


class FieldWriter:
    """Write a DOLFINx function over time: VTX (``.bp``) if ADIOS2 is there, else XDMF."""

    def __init__(self, comm: Any, path: Path, u: Any) -> None:
        import dolfinx
        import dolfinx.io

        self.u = u
        self.last_time_s = -np.inf
        if dolfinx.has_adios2:
            self.path = Path(path).with_suffix(".bp")
            self._w = dolfinx.io.VTXWriter(comm, str(self.path), [u], engine="BP4")
            self._xdmf = False
        else:  # pragma: no cover - depends on the build
            self.path = Path(path).with_suffix(".xdmf")
            self._w = dolfinx.io.XDMFFile(comm, str(self.path), "w")
            self._w.write_mesh(u.function_space.mesh)
            self._xdmf = True

    def write(self, t_s: float) -> None:
        if self._xdmf:  # pragma: no cover
            self._w.write_function(self.u, t_s)
        else:
            self._w.write(t_s)
        self.last_time_s = t_s

    def close(self) -> None:
        self._w.close()


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


def render_ice_ball(field: dict[str, np.ndarray], path: Path, iso_C: float = 0.0, title: str | None = None) -> Path:
    """Render the ``iso_C`` isotherm surface of a final P1 field to a PNG (off screen).

    ``field`` is :attr:`cryosim.post.results.Results.final_field` of an
    "axisymmetric" or "3d" run. Lengths on the axes are in mm.
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
    near = grid.clip_box(_box_around(grid, vals, iso_C), invert=False) if np.any(vals <= iso_C) else grid
    surf = near.contour([iso_C], scalars="temperature_C")
    plotter = pv.Plotter(off_screen=True, window_size=WINDOW_SIZE)
    if surf.n_points:
        plotter.add_mesh(surf, color="lightsteelblue", opacity=0.85, smooth_shading=True)
    colder = [v for v in (-20.0, -40.0) if v < iso_C and np.any(vals <= v)]
    for v, c in zip(colder, ("royalblue", "navy")):
        s = near.contour([v], scalars="temperature_C")
        if s.n_points:
            plotter.add_mesh(s, color=c, opacity=0.6)
    zs = 1e3 * np.asarray(pts)[:, 2]
    axis = pv.Line((0.0, 0.0, max(float(zs.min()), -5.0)), (0.0, 0.0, min(float(zs.max()), 15.0)))
    plotter.add_mesh(axis, color="black", line_width=4)
    plotter.add_text(title or f"{iso_C:g} °C isotherm (mm)", font_size=12)
    plotter.show_bounds(grid="back", xtitle="x (mm)", ytitle="y (mm)", ztitle="z (mm)")
    plotter.camera_position = "xz"
    plotter.camera.azimuth = 30
    plotter.camera.elevation = 20
    path = Path(path)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def _box_around(grid: Any, vals: np.ndarray, iso_C: float) -> list[float]:
    """Bounds (mm) of the region at or below ``iso_C``, padded, to crop the far field."""
    p = np.asarray(grid.points)[vals <= iso_C]
    lo, hi = p.min(axis=0), p.max(axis=0)
    pad = 0.3 * float(np.max(hi - lo)) + 1.0
    return [lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad, lo[2] - pad, hi[2] + pad]
