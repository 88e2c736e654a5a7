r"""The cold dose a nerve receives: coldest temperature, time below thresholds, lesion length, injury grade.

A nerve is a path in the scene (:class:`cryosim.scenario.Nerve`): a
polyline sampled every ``spacing_m`` at most. :class:`NerveTracker` locates
the samples once, on the first view (as the thermocouples are), keeps the
temperature of every sample at every accepted step, and at the end hands a
:class:`NerveDose` per nerve to the :class:`~cryosim.post.results.Results`.

Coordinates. Points given as ``(r, z)`` pairs lie in a meridian half-plane
of the probe (``r`` from the probe axis, ``z`` along it). Points given as
``(x, y, z)`` triples are a path in space, the probe axis being the z axis:
on an axisymmetric run the field at a 3D point is the field at
``(r = hypot(x, y), z)`` -- exact, since the field does not depend on the
angle -- so a nerve that *crosses* the probe (passes beside it at a closest
distance ``d``, e.g. ``x = d``, ``y`` from -10 to +10 mm) is tracked on an
axisymmetric run as well; a 3D run is needed only when the scene itself is
not axisymmetric (bone plate at an angle, vessels, extra probes). On a 3D
run an ``(r, z)`` point is read at ``(r, 0, z)``; on a 1D run at ``x = r``.
A path through the probe or outside the medium is refused.

Injury grade from the coldest temperature the nerve reaches:
:func:`cryosim.physics.injury.injury_grade` (thresholds and sources there).
The *lesion length* is the length of nerve whose coldest temperature went at
or below a threshold (linear between samples: exact for a field linear along
the nerve).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics.injury import AXONOTMESIS_BELOW_C, GRADES, ICE_EDGE_C, NEURAPRAXIA_BELOW_C, injury_grade
from .view import INSIDE_TOL, StepView, Tracker, barycentric

__all__ = ["NEURAPRAXIA_BELOW_C", "AXONOTMESIS_BELOW_C", "GRADES", "NerveDose", "NerveTracker", "injury_grade",
           "time_below_s", "length_below_m", "sample_path"]

def time_below_s(time_s: np.ndarray, T_C: np.ndarray, threshold_C: float) -> np.ndarray:
    """Time spent at or below ``threshold_C`` (s), per column of ``T_C`` (steps x samples), T linear in time
    between steps."""
    t = np.asarray(time_s, float)
    T = np.asarray(T_C, float).reshape(t.size, -1) - threshold_C
    if t.size < 2:
        return np.zeros(T.shape[1])
    a, b, dt = T[:-1], T[1:], np.diff(t)[:, None]
    both = (a <= 0) & (b <= 0)
    cross = (a <= 0) != (b <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(a <= 0, a / (a - b), b / (b - a))  # share of the interval below the threshold
    return np.sum(np.where(both, dt, 0.0) + np.where(cross, np.nan_to_num(frac) * dt, 0.0), axis=0)


def length_below_m(s_m: np.ndarray, value_C: np.ndarray, threshold_C: float) -> float:
    """Length of the path (positions ``s_m``) where ``value_C`` (linear between samples) is at or below the
    threshold (m)."""
    v = np.asarray(value_C, float) - threshold_C
    a, b, ds = v[:-1], v[1:], np.diff(np.asarray(s_m, float))
    both = (a <= 0) & (b <= 0)
    cross = (a <= 0) != (b <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(a <= 0, a / (a - b), b / (b - a))
    return float(np.sum(np.where(both, ds, 0.0) + np.where(cross, np.nan_to_num(frac) * ds, 0.0)))


def sample_path(points_m: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along a polyline at most ``spacing_m`` apart (every vertex kept) and their arc length (m)."""
    P = np.asarray(points_m, float)
    pts, s = [P[0]], [0.0]
    for a, b in zip(P[:-1], P[1:]):
        L = float(np.linalg.norm(b - a))
        n = max(1, int(np.ceil(L / spacing_m - 1e-9)))
        for k in range(1, n + 1):
            pts.append(a + (b - a) * k / n)
            s.append(s[-1] + L / n)
    return np.asarray(pts), np.asarray(s)


@dataclass
class NerveDose:
    """What one nerve received: the temperature of each sample (``T_C``: steps x samples) over ``time_s``.

    ``s_m``: arc length of each sample from the first point (m); ``points_m``:
    the samples in the nerve's own coordinates. Queries take ``until_s``
    (None: the whole run) to report the dose so far.
    """

    name: str
    s_m: np.ndarray
    points_m: np.ndarray
    time_s: np.ndarray
    T_C: np.ndarray
    neurapraxia_below_C: float = NEURAPRAXIA_BELOW_C
    axonotmesis_below_C: float = AXONOTMESIS_BELOW_C

    def _upto(self, until_s: float | None) -> tuple[np.ndarray, np.ndarray]:
        if until_s is None:
            return self.time_s, self.T_C
        k = int(np.searchsorted(self.time_s, until_s, side="right"))
        return self.time_s[:max(k, 1)], self.T_C[:max(k, 1)]

    def coldest_per_point_C(self, until_s: float | None = None) -> np.ndarray:
        """Coldest temperature reached at each sample (°C)."""
        return np.min(self._upto(until_s)[1], axis=0)

    def coldest_C(self, until_s: float | None = None) -> float:
        """Coldest temperature reached anywhere on the nerve (°C)."""
        return float(np.min(self.coldest_per_point_C(until_s)))

    def coldest_index(self) -> int:
        return int(np.argmin(self.coldest_per_point_C()))

    def lesion_length_m(self, threshold_C: float | None = None, until_s: float | None = None) -> float:
        """Length of nerve that went at or below ``threshold_C`` (default: the axonotmesis threshold) (m)."""
        thr = self.axonotmesis_below_C if threshold_C is None else threshold_C
        return length_below_m(self.s_m, self.coldest_per_point_C(until_s), thr)

    def time_below_s(self, threshold_C: float) -> np.ndarray:
        """Time each sample spent at or below ``threshold_C`` (s)."""
        return time_below_s(self.time_s, self.T_C, threshold_C)

    def grade(self, until_s: float | None = None) -> str:
        return injury_grade(self.coldest_C(until_s), self.neurapraxia_below_C, self.axonotmesis_below_C)

    def rates_K_per_s(self) -> tuple[float, float]:
        """(fastest cooling, fastest warming after the minimum) at the coldest sample (K/s, both >= 0).

        Step-to-step differences of the recorded series (the step controller
        resolves the temperature to its tolerance); NaN with fewer than two steps.
        """
        T = self.T_C[:, self.coldest_index()]
        if T.size < 2:
            return float("nan"), float("nan")
        rate = np.diff(T) / np.diff(self.time_s)
        k = int(np.argmin(T))
        cooling = float(max(0.0, -np.min(rate[:k]))) if k > 0 else 0.0
        warming = float(max(0.0, np.max(rate[k:]))) if k < rate.size else 0.0
        return cooling, warming

    def summary(self) -> dict[str, Any]:
        """Plain-data figures of the dose."""
        j = self.coldest_index()
        cool, warm = self.rates_K_per_s()
        thresholds = {"neurapraxia": self.neurapraxia_below_C, "ice_edge": ICE_EDGE_C,
                      "axonotmesis": self.axonotmesis_below_C}
        return {
            "coldest_C": self.coldest_C(),
            "grade": self.grade(),
            "coldest_point_m": self.points_m[j].tolist(),
            "coldest_point_arc_m": float(self.s_m[j]),
            "nerve_length_m": float(self.s_m[-1]),
            "lesion_length_m": self.lesion_length_m(),
            "frozen_length_m": self.lesion_length_m(ICE_EDGE_C),
            "block_length_m": self.lesion_length_m(self.neurapraxia_below_C),
            "time_below_s": {f"{k}@{v:g}C": float(self.time_below_s(v)[j]) for k, v in thresholds.items()},
            "cooling_rate_K_per_s": cool,
            "thawing_rate_K_per_s": warm,
            "thresholds_C": thresholds,
        }

    def line(self) -> str:
        """One line for :meth:`cryosim.post.results.Results.table`."""
        d = self.summary()
        tb = d["time_below_s"]
        return (f"nerve {self.name}: coldest {d['coldest_C']:.1f} °C -> {d['grade']}; lesion (<= "
                f"{self.axonotmesis_below_C:g} °C) {1e3 * d['lesion_length_m']:.2f} mm, frozen (<= 0 °C) "
                f"{1e3 * d['frozen_length_m']:.2f} mm of {1e3 * d['nerve_length_m']:.1f} mm; at its coldest point "
                f"{tb[f'axonotmesis@{self.axonotmesis_below_C:g}C']:.0f} s below {self.axonotmesis_below_C:g} °C, "
                f"cooling up to {d['cooling_rate_K_per_s']:.2f} K/s, thawing up to {d['thawing_rate_K_per_s']:.2f} K/s")


class NerveTracker(Tracker):
    """Samples every nerve of a scenario at every step (interpolation set up once, on the first view)."""

    def __init__(self, nerves: Sequence[Any]) -> None:
        self.nerves = tuple(nerves)
        self._samples = [sample_path(np.asarray(n.points_m, float), n.spacing_m) for n in self.nerves]
        self._nodes: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self.time_s: list[float] = []
        self.rows: list[list[np.ndarray]] = []

    @staticmethod
    def _query_points(P: np.ndarray, dim: int) -> np.ndarray:
        """The samples ``P`` (k, 2 or 3) as points of a ``dim``-dimensional field (see the module docstring)."""
        if dim == 3:
            return P if P.shape[1] == 3 else np.column_stack([P[:, 0], np.zeros(len(P)), P[:, 1]])
        r = np.hypot(P[:, 0], P[:, 1]) if P.shape[1] == 3 else P[:, 0]
        return r[:, None] if dim == 1 else np.column_stack([r, P[:, -1]])

    def _locate(self, view: StepView) -> None:
        from ..checks import ScenarioError

        if view.comm is not None and view.comm.size > 1:
            raise NotImplementedError("nerve tracking under MPI is not implemented yet (run on one process)")
        f = view.nodal_field()
        X, C = np.asarray(f.points_m, float), np.asarray(f.cells, np.int64)
        dim = X.shape[1]
        for nerve, (P, _) in zip(self.nerves, self._samples):
            Q = self._query_points(P, dim)
            nodes = np.zeros((len(Q), 2 if dim == 1 else dim + 1), np.int64)
            weights = np.zeros(nodes.shape)
            for k, q in enumerate(Q):
                if dim == 1:
                    x = X[:, 0]
                    ok = x[0] - 1e-12 <= q[0] <= x[-1] + 1e-12
                    if ok:
                        j = int(np.clip(np.searchsorted(x, q[0]), 1, len(x) - 1))
                        s = float(np.clip((q[0] - x[j - 1]) / (x[j] - x[j - 1]), 0.0, 1.0))
                        nodes[k], weights[k] = (j - 1, j), (1.0 - s, s)
                else:
                    lam = barycentric(X[C], q)
                    inside = np.nonzero(lam.min(axis=1) >= -INSIDE_TOL)[0]
                    ok = inside.size > 0
                    if ok:
                        nodes[k], weights[k] = C[inside[0]], lam[inside[0]]
                if not ok:
                    raise ScenarioError(f"nerves[{nerve.name}]", tuple(float(v) for v in P[k]),
                                        "a path inside the medium (not through a probe, a vessel or beyond the "
                                        "far boundary)")
            self._nodes.append(nodes)
            self._weights.append(weights)

    def _record(self, view: StepView) -> None:
        if not self.nerves:
            return
        if not self._nodes:
            self._locate(view)
        T = np.asarray(view.nodal_field().temperature_C, float)
        self.time_s.append(float(view.t_s))
        self.rows.append([np.sum(w * T[n], axis=1) for n, w in zip(self._nodes, self._weights)])

    def start(self, view: StepView) -> None:
        self._record(view)

    def update(self, view: StepView) -> None:
        self._record(view)

    def doses(self) -> dict[str, NerveDose]:
        """One :class:`NerveDose` per nerve, by name."""
        t = np.asarray(self.time_s)
        out = {}
        for i, (nerve, (P, s)) in enumerate(zip(self.nerves, self._samples)):
            T = np.array([row[i] for row in self.rows]).reshape(len(t), len(s))
            out[nerve.name] = NerveDose(nerve.name, s, P, t, T, nerve.neurapraxia_below_C, nerve.axonotmesis_below_C)
        return out
