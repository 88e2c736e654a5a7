"""The temperature field over time, as files that meshio, pyvista and ParaView open.

A run with an output folder (both solvers) writes, as it goes:

* ``temperature_frames/frame_NNNN.vtu``: one VTK unstructured grid per
  frame -- the P1 mesh (lengths in m) with point data ``temperature_C``
  (°C); its time is in the collection. An axisymmetric field is a 2D mesh of
  triangles in the (r, z) half-plane, stored as x = r, y = z, 0; a 3D field
  is tetrahedra in (x, y, z);
* ``temperature.pvd``: the ParaView collection of those frames with their
  times (``pyvista.get_reader("temperature.pvd")`` lists
  ``time_values``; ParaView opens it as a time series), rewritten after
  every frame, so an interrupted run leaves a valid series of what it
  computed.

Frames (:func:`frame_times_s`): t = 0, the end of every protocol step, the
requested ``numerics.output_times_s`` (at most :data:`MAX_OUTPUT_FRAMES` of
them, evenly thinned beyond that) and the end of the run. A frame is written
at the first accepted step at or past its time; the step controller lands on
all of them exactly, so the time in the file is the requested one.

Under MPI the ranks' pieces are gathered to rank 0, which writes one grid
(nodes shared by partitions merged by their coordinates).
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write, check_not_symlink
from .view import StepView, Tracker

__all__ = ["SERIES_FILE", "FRAMES_FOLDER", "MAX_OUTPUT_FRAMES", "field_mesh", "write_vtu", "frame_times_s",
           "read_pvd", "FieldSeriesTracker"]

#: The collection file of a run's field series (in its output folder).
SERIES_FILE = "temperature.pvd"
#: The folder of the frames (VTU files), next to :data:`SERIES_FILE`.
FRAMES_FOLDER = "temperature_frames"
#: Most requested output times written as frames (beyond it, evenly thinned); step ends always are.
MAX_OUTPUT_FRAMES = 200


def field_mesh(points_m: np.ndarray, cells: np.ndarray, temperature_C: np.ndarray) -> Any:
    """A P1 field as a :class:`meshio.Mesh`: triangles (points (n, 2) padded to x = r, y = z, 0) or tetrahedra,
    point data ``temperature_C`` (°C)."""
    import meshio

    pts, cells = np.asarray(points_m, float), np.asarray(cells, np.int64)
    if pts.ndim != 2 or cells.ndim != 2 or cells.shape[1] not in (3, 4):
        raise ValueError(f"a field of triangles or tetrahedra, not cells of shape {cells.shape}")
    pts3 = np.column_stack([pts, np.zeros((pts.shape[0], 3 - pts.shape[1]))]) if pts.shape[1] < 3 else pts
    kind = "triangle" if cells.shape[1] == 3 else "tetra"
    return meshio.Mesh(pts3, [(kind, cells)], point_data={"temperature_C": np.asarray(temperature_C, float)})


def write_vtu(path: str | Path, mesh: Any) -> None:
    """Write ``mesh`` (meshio) to ``path`` as binary VTU, through a temporary file renamed into place."""
    import meshio

    with tempfile.TemporaryDirectory(prefix="cryosim-vtu-") as tmp:  # meshio writes by file name
        meshio.write(Path(tmp) / "f.vtu", mesh, file_format="vtu")
        data = (Path(tmp) / "f.vtu").read_bytes()
    atomic_write(path, lambda fh: fh.write(data), mode="wb")


def frame_times_s(scenario: Any) -> np.ndarray:
    """The times of the field frames of a run of ``scenario`` (s, sorted, unique): 0, every protocol step's
    end, the requested output times (at most :data:`MAX_OUTPUT_FRAMES`, evenly thinned)."""
    ends = np.asarray(scenario.protocol.step_starts_s(), float)
    outs = np.asarray(sorted(scenario.numerics.output_times_s), float)
    if outs.size > MAX_OUTPUT_FRAMES:
        outs = outs[np.unique(np.round(np.linspace(0, outs.size - 1, MAX_OUTPUT_FRAMES)).astype(int))]
    t_end = float(ends[-1])
    return np.unique(np.concatenate([ends, outs[outs <= t_end]]))


def _pvd_text(frames: list[tuple[float, str]]) -> str:
    rows = "".join(f'    <DataSet timestep="{t!r}" group="" part="0" file="{name}"/>\n' for t, name in frames)
    return ('<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">\n'
            f"  <Collection>\n{rows}  </Collection>\n</VTKFile>\n")


def read_pvd(path: str | Path) -> list[tuple[float, Path]]:
    """The (time_s, frame path) pairs of a ``.pvd`` collection, in its order."""
    path = Path(path)
    root = ET.parse(path).getroot()
    return [(float(d.get("timestep")), path.parent / d.get("file")) for d in root.iter("DataSet")]


class FieldSeriesTracker(Tracker):
    """Writes the nodal temperature field at the :func:`frame_times_s` of a run into ``folder``
    (:data:`SERIES_FILE` and :data:`FRAMES_FOLDER`; see the module's documentation).

    ``times_s``: the frame times (s); the final view is always written. Under
    MPI (``view.comm``) every rank must be fed the same views; rank 0 writes.
    """

    def __init__(self, folder: str | Path, times_s: np.ndarray) -> None:
        self.folder = Path(folder)
        self.times_s = np.asarray(times_s, float)
        self.frames: list[tuple[float, str]] = []
        self._next = 0
        self._merge: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (points, cells, inverse) under MPI

    def _tol(self) -> float:
        return 1e-9 * max(1.0, float(self.times_s[-1]) if self.times_s.size else 1.0)

    def _due(self, t: float) -> bool:
        tol = self._tol()
        due = self._next < self.times_s.size and t >= self.times_s[self._next] - tol
        while self._next < self.times_s.size and self.times_s[self._next] <= t + tol:
            self._next += 1
        return bool(due)

    def start(self, view: StepView) -> None:
        self.update(view)

    def update(self, view: StepView) -> None:
        if self._due(float(view.t_s)):
            self._write(view)

    def finish(self, view: StepView) -> None:
        if not self.frames or float(view.t_s) > self.frames[-1][0] + self._tol():
            self._write(view)

    def _field(self, view: StepView) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The whole field on rank 0 (None on the other ranks)."""
        f = view.nodal_field()
        comm = view.comm
        if comm is None or comm.size == 1:
            return np.asarray(f.points_m), np.asarray(f.cells), np.asarray(f.temperature_C)
        first = self._merge is None
        mine = (np.asarray(f.points_m), np.asarray(f.cells)) if first else None
        parts = comm.gather((mine, np.asarray(f.temperature_C, float)), root=0)
        if comm.rank != 0:
            self._merge = self._merge or (np.zeros(0), np.zeros(0), np.zeros(0))
            return None
        if first:
            offs = np.cumsum([0] + [p[0][0].shape[0] for p in parts[:-1]])
            pts = np.vstack([p[0][0] for p in parts])
            cells = np.vstack([p[0][1] + o for p, o in zip(parts, offs)])
            upts, inv = np.unique(pts, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            self._merge = (upts, inv[cells], inv)
        upts, cells, inv = self._merge  # type: ignore[misc]
        T = np.empty(upts.shape[0])
        T[inv] = np.concatenate([p[1] for p in parts])
        return upts, cells, T

    def _write(self, view: StepView) -> None:
        t = float(view.t_s)
        field = self._field(view)
        name = f"{FRAMES_FOLDER}/frame_{len(self.frames):04d}.vtu"
        self.frames.append((t, name))
        if field is None:
            return
        check_not_symlink(self.folder, "output folder")
        frames = self.folder / FRAMES_FOLDER
        check_not_symlink(frames, "output folder")
        frames.mkdir(parents=True, exist_ok=True)
        write_vtu(self.folder / name, field_mesh(*field))
        text = _pvd_text(self.frames)
        atomic_write(self.folder / SERIES_FILE, lambda fh: fh.write(text))
