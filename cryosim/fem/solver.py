r"""Finite-element solver: Pennes bioheat with phase change, enthalpy form, on DOLFINx.

Strong form (temperatures in °C, SI units), on the medium :math:`\Omega`
around the probe(s):

.. math::

    \frac{\partial H(T)}{\partial t} = \nabla\cdot(k(T)\nabla T)
        + f_u(T)\,\beta\,(T_a - T) + f_u(T)\,q_m,
    \qquad \beta = w_b (\rho c)_{blood},

with :math:`H, f_u, k` from :func:`cryosim.physics.phase_change.ufl_formulas` (the same
formulas the fast solver compiles with numba), one set per material region.

Time integration: the two-stage SDIRK2 of Alexander (SIAM J. Numer. Anal. 14
(1977) 1006), :math:`\gamma = 1 - 1/\sqrt 2`, L-stable and stiffly accurate,
on the *enthalpy* (so latent heat is conserved however far a step jumps
across the freezing interval) -- the fast solver's scheme
(:mod:`cryosim.fast.stepper`). Both stages solve the same weak form, P1
Lagrange :math:`T_i` (primary unknown); for every test function :math:`v`,

.. math::

    \int_\Omega \Big[\frac{H(T_i) - H^*_i}{\gamma\Delta t} v
        + k(T_i) \nabla T_i\cdot\nabla v
        - f_u(T_i) \big(\beta (T_a - T_i) + q_m\big) v \Big]\, w\, dx
    - \int_{\Gamma_R} h (T_\infty - T_i)\, v\, w\, ds
    + \int_{\Gamma_P} q_{probe}\, v\, w\, ds = 0,

    H^*_i = H(T^n) + c_i\,\big(H(T_1) - H(T^n)\big),
    \qquad c_1 = 0,\ c_2 = (1 - \gamma)/\gamma,

stage 1 at :math:`t + \gamma\Delta t`, stage 2 at :math:`t + \Delta t`,
:math:`T^{n+1} = T_2`. :math:`c_i`, :math:`\gamma\Delta t` and every
boundary value are :class:`dolfinx.fem.Constant` and :math:`T_1` a
:class:`dolfinx.fem.Function`, so ONE residual form (and its Jacobian) is
compiled per run and serves both stages. :math:`w = r = x_0` for
axisymmetric (r, z) meshes and 1 in 3D. The enthalpy term is *lumped*:
integrated with the vertex rule (:data:`MASS_QUADRATURE`) and, in (r, z),
the weight :math:`(r + 3 r_c)/4` (:math:`r_c` the cell's centroid radius) so
that each node carries the row sum of the axisymmetric mass matrix, as the
fast solver's control volumes do. Boundary conditions
(:mod:`cryosim.physics.boundary`, evaluated at each stage's time):

* active tip: TEMPERATURE -> Dirichlet; CONVECTIVE -> Robin to the coolant;
  TABULATED_FLUX -> Neumann with the device's table (below);
  LIMITED_FLUX -> Neumann, :math:`q_{probe} = -q_0\,\mathrm{ramp}((T - T_{floor})/\Delta T)`
  extracted; FLUX -> Neumann (no floor); ADIABATIC -> nothing;
* shaft: the shaft rule of :mod:`cryosim.physics.boundary` (Robin or insulated);
* vessel walls: Robin :math:`h (T_{blood} - T)`,
  ``h = vessel.heat_transfer_W_per_m2_K``;
* far boundary: Dirichlet at the initial temperature; axis: natural (zero flux).

Every other integral uses the fixed quadrature degree
:data:`QUADRATURE_DEGREE`.

Energy: the heat through each boundary is the *reaction*: the interior
residual :math:`G_i(T_k)` (the volume terms above) summed over the
boundary's nodes. Since :math:`\sum_i v_i = 1`, :math:`\sum_i G_i(T_k)` is
exactly :math:`\int (H(T_k) - H^*_k)/(\gamma\Delta t)\,w` minus perfusion and
metabolic heat, and :math:`H^{n+1} - H^n = (1-\gamma)\Delta t\,S_1 + \gamma\Delta t\,S_2`;
so the reactions and sources accumulated with the same weights
:math:`(1-\gamma)\Delta t` (stage 1) and :math:`\gamma\Delta t` (stage 2) close
the recorded energy balance to the Newton tolerance
(``Results.energy_imbalance_relative``).

Step control: :func:`cryosim.numerics.stepsize.integrate` (the shared
controller) drives :class:`FESystem`, whose step is the fast solver's,
:func:`cryosim.numerics.sdirk2.sdirk2_step`. The local error is estimated
against the embedded first-order solution of the same step, taken in
*enthalpy* node by node, :math:`H_{low} = H(T^n) + (H(T_1) - H(T^n))/\gamma`,
and read back as nodal temperatures :math:`T_{low} = T(H_{low})`
(:func:`cryosim.fem.newton.enthalpy_extrapolation`; Dirichlet values kept);
extrapolating the temperature itself, :math:`T^n + (T_1 - T^n)/\gamma`, would
run tens of kelvin past the freezing interval. The two measures and
tolerances are the fast solver's (:func:`cryosim.numerics.sdirk2.error_ratio`):
the total stored-energy difference :math:`\int (H(T_2) - H(T_{low})) w` (plus
the probe wall's) relative to the change since t = 0, against
``numerics.enthalpy_rtol``, and the largest nodal :math:`|T_2 - T_{low}|`,
against ``numerics.temperature_tolerance_K`` (see
:meth:`FESystem.error_measures`; the estimate is O(dt^2), measured).
Newton: :class:`cryosim.fem.newton.FENewton` (the correction read in
enthalpy across the freezing interval, a line search that never accepts a
larger residual, MUMPS LU); nothing unconverged is accepted (the controller
cuts the step).

Joule-Thomson devices (:data:`BCKind.TABULATED_FLUX`, :class:`~cryosim.physics.boundary.DeviceTip`):
the device's flux table is a UFL expression (:func:`_table_flux_ufl`) on the
active surface while the gas is on, and the probe wall's heat capacity is
lumped on the active surface's nodes (row sums of the surface mass times
``wall_heat_capacity_J_per_m2_K``), stored energy like the medium's enthalpy,
as in the fast solver; the device's series (tip temperature, thermistor,
cooling power, gas used, wall heat) are recorded.

What the solver leaves out: the heat capacity of a probe that is not a device,
blood flow inside vessels (blood temperature is fixed), supercooling, the
density change on freezing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..physics.materials import Material, get_material
from ..physics.phase_change import CURVES, P_BETA, P_CU, ufl_formulas
from ..numerics.sdirk2 import SDIRK_GAMMA, STAGE2_C, sdirk2_step
from ..numerics.stepsize import Attempt, integrate, step_settings
from ..physics.boundary import FLOOR_RAMP_K, BCKind, BoundarySet, DeviceTip, Surface, probe_boundaries
from ..post.guards import far_field_disturbance_K
from ..post.results import ENERGY_KEYS, Results
from ..post.trackers import NodalField, StepView, Tracker, TrackerList, device_extras, device_stats
from ..scenario import Numerics, Scenario
from . import geometry as geo
from .newton import FENewton, NewtonSettings, enthalpy_extrapolation

__all__ = ["run_fem", "FEMSettings", "FESystem", "QUADRATURE_DEGREE", "SDIRK_GAMMA", "pennes_terms",
           ]

#: Quadrature degree of the conduction, source and boundary integrals (the
#: residual and the source functionals share it, so the energy balance closes
#: exactly). Degree 2 integrates P1 products exactly; k(T), f_u(T) are piecewise smooth.
QUADRATURE_DEGREE = 2
#: Quadrature of the enthalpy terms (the time derivative and the enthalpy
#: functional, which must share it): the vertex rule with the row-sum weight of
#: _Physics, i.e. a lumped mass. With the consistent P1 mass a tip temperature
#: that jumps (t = 0, a breakpoint) moves the neighbouring nodes by an O(1)
#: amount however short the step (the mass matrix couples them to the jump;
#: non-monotone), so no step size passes the local error test; lumping makes
#: each node's enthalpy its own, as in the fast solver's vertex-centred finite
#: volumes (and keeps fronts monotone).
MASS_QUADRATURE = {"quadrature_rule": "vertex", "quadrature_degree": 1}
#: Floor standing for "no floor" of a plain FLUX condition (°C): the ramp is then 1 at any temperature.
NO_FLOOR_C = -1e30


@dataclass(frozen=True)
class FEMSettings:
    """Numerical controls of the FE solver that are not part of ``scenario.numerics``."""

    #: first step after t = 0 and after every protocol breakpoint (s)
    first_step_s: float = 1e-2
    #: Newton's method of the stages (:mod:`cryosim.fem.newton`): tolerance, lagged factors, LU package
    newton: NewtonSettings = NewtonSettings()
    #: unused since the field series (:mod:`cryosim.post.series`) is written at the protocol's step ends and
    #: ``numerics.output_times_s``; kept so that settings naming it still work
    output_interval_s: float = 10.0


def _import_dolfinx() -> Any:
    try:
        import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py)
    except ImportError:
        pass
    try:
        import dolfinx
        import dolfinx.fem.petsc  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise ImportError("the finite-element solver needs DOLFINx 0.11: pip install 'cryosim[fem]' "
                          "(or conda install -c conda-forge fenics-dolfinx and pip install 'cryosim[fem-conda]')") from e
    return dolfinx


def pennes_terms(T: Any, T_n: Any, v: Any, dt: Any, mat: Material, arterial_C: Any, w: Any, dx: Any, *,
                 T_1: Any = None, stage_c: Any = None, dx_mass: Any = None,
                 w_mass: Any = None) -> dict[str, Any]:
    r"""UFL forms of the Pennes enthalpy equation for one material on the measure ``dx``.

    ``residual``: :math:`\int [(H(T) - H^*)/\Delta t\, v + k(T)\nabla T\cdot\nabla v
    - f_u(T)(\beta (T_a - T) + q_m) v]\, w\, dx` (W, per radian when
    ``w = r``) with :math:`H^* = H(T_n)` (backward Euler), or with ``T_1`` and
    ``stage_c`` given :math:`H^* = H(T_n) + c\,(H(T_1) - H(T_n))` (an SDIRK
    stage; ``dt`` is then :math:`\gamma\Delta t`); ``enthalpy``:
    :math:`\int H(T) w\, dx` (J); ``perfusion`` and ``metabolic``: the source
    integrals (W). ``dx_mass`` and ``w_mass`` (default ``dx`` and ``w``)
    are the measure and weight of the enthalpy terms (the time derivative and
    ``enthalpy``): a vertex rule lumps them. Properties from ``mat``
    (:meth:`cryosim.physics.materials.Material.property_row` for :math:`\beta`); the
    formulas are :func:`cryosim.physics.phase_change.ufl_formulas`.
    """
    import ufl

    dxm = dx if dx_mass is None else dx_mass
    wm = w if w_mass is None else w_mass
    f = ufl_formulas()
    Cf, Cu, L = mat.heat_capacity_frozen_J_per_m3_K, mat.heat_capacity_unfrozen_J_per_m3_K, mat.latent_heat_J_per_m3
    Ts, Tl, curve = mat.solidus_C, mat.liquidus_C, CURVES[mat.freezing_curve]
    kf, ku, kexp = mat.conductivity_frozen_W_per_m_K, mat.conductivity_unfrozen_W_per_m_K, mat.frozen_conductivity_exponent
    beta, qm = float(mat.property_row()[P_BETA]), mat.metabolic_heat_W_per_m3

    def H(u: Any) -> Any:
        return f["enthalpy"](u, Cf, Cu, L, Ts, Tl, curve)

    H_n = H(T_n)
    H_star = H_n if T_1 is None else H_n + stage_c * (H(T_1) - H_n)
    fu = f["unfrozen_fraction"](T, Ts, Tl, curve)
    k = f["conductivity"](T, kf, ku, kexp, Ts, Tl, curve)
    perf = fu * beta * (arterial_C - T)
    meta = fu * qm
    return {
        "residual": ((H(T) - H_star) / dt * v * wm * dxm
                     + (k * ufl.dot(ufl.grad(T), ufl.grad(v)) - (perf + meta) * v) * w * dx),
        "enthalpy": H(T) * wm * dxm,
        "perfusion": perf * w * dx,
        "metabolic": meta * w * dx,
    }


def _revolve(fm: geo.FEMesh) -> float:
    """2 pi on (r, z) meshes (their integrals of r dx are per radian), else 1."""
    return 2.0 * math.pi if fm.axisymmetric else 1.0


def active_area_m2(fm: geo.FEMesh) -> float:
    """Area of the mesh's active probe surface (m^2; revolved on (r, z) meshes)."""
    dolfinx = _import_dolfinx()
    import ufl
    from mpi4py import MPI

    ds = ufl.Measure("ds", domain=fm.mesh, subdomain_data=fm.facet_tags)
    w = ufl.SpatialCoordinate(fm.mesh)[0] if fm.axisymmetric else dolfinx.fem.Constant(fm.mesh, 1.0)
    local = dolfinx.fem.assemble_scalar(dolfinx.fem.form(w * ds(geo.ACTIVE)))
    return _revolve(fm) * float(fm.mesh.comm.allreduce(local, op=MPI.SUM))


def _table_flux_ufl(msh: Any, T: Any, table_T_C: tuple[float, ...], table_flux_W_per_m2: tuple[float, ...]) -> Any:
    r"""The piecewise-linear table of a TABULATED_FLUX condition as a UFL expression of ``T``.

    :func:`numpy.interp` with ``left = 0`` (the condition's law,
    :meth:`cryosim.physics.boundary.SurfaceCondition.flux_into_medium_W_per_m2`)
    written as a sum of hinges, :math:`q(T) = q_0 [T \ge T_0] + \sum_j (s_j - s_{j-1})
    \max(T - T_j, 0)` with :math:`s_j` the slope of segment j (0 before the
    first point and after the last). The points and coefficients are
    :class:`dolfinx.fem.Constant` vectors, so the compiled form depends only on
    the number of points, not on the device.
    """
    import dolfinx
    import ufl

    Tt = np.asarray(table_T_C, float)
    qt = np.asarray(table_flux_W_per_m2, float)
    slopes = np.concatenate([[0.0], np.diff(qt) / np.diff(Tt), [0.0]])
    Tc = dolfinx.fem.Constant(msh, Tt.astype(dolfinx.default_scalar_type))
    cc = dolfinx.fem.Constant(msh, np.diff(slopes).astype(dolfinx.default_scalar_type))
    q0 = dolfinx.fem.Constant(msh, dolfinx.default_scalar_type(qt[0]))
    out = q0 * ufl.conditional(ufl.ge(T, Tc[0]), 1.0, 0.0)
    for j in range(Tt.size):
        out = out + cc[j] * ufl.max_value(T - Tc[j], 0.0)
    return out


class _Physics:
    """The weak form (one SDIRK stage) and the energy functionals of one scenario on one mesh."""

    def __init__(self, scenario: Scenario, fm: geo.FEMesh, boundaries: BoundarySet) -> None:
        dolfinx = _import_dolfinx()
        import ufl

        self.scenario = scenario
        self.fm = fm
        msh = fm.mesh
        self.V = V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
        self.T = dolfinx.fem.Function(V, name="temperature_C")  # unknown of the stage being solved
        self.T_n = dolfinx.fem.Function(V)  # committed state
        self.T_1 = dolfinx.fem.Function(V)  # stage-1 solution (enters H*_2)
        T, T_n = self.T, self.T_n
        v = ufl.TestFunction(V)
        sc = dolfinx.default_scalar_type

        def const(x: float) -> Any:
            return dolfinx.fem.Constant(msh, sc(x))

        self.gamma_dt = const(1.0)  # gamma * dt (s)
        self.stage_c = const(0.0)  # 0 in stage 1, (1 - gamma) / gamma in stage 2
        self.T_tip = const(0.0)  # Dirichlet value
        self.h_tip = const(0.0)  # Robin coefficient on ACTIVE (W/m^2/K)
        self.T_cool = const(0.0)  # coolant temperature seen through h_tip
        self.q_tip = const(0.0)  # extracted flux on ACTIVE (W/m^2), delivered down to T_floor
        self.T_floor = const(-273.15)
        self.h_shaft = const(0.0)
        self.T_shaft = const(0.0)
        Ta = const(scenario.arterial_temperature_C)
        x = ufl.SpatialCoordinate(msh)
        w = x[0] if fm.axisymmetric else 1.0
        # weight of the lumped enthalpy terms: with the vertex rule, (r + 3 r_c)/4 at
        # vertex i of a triangle (r_c: its centroid radius) gives |K| (2 r_i + r_j + r_k)/12
        # = the row sum of the axisymmetric mass matrix, so nodes on the axis keep
        # their heat capacity (w = r at the vertices would give them none).
        w_mass: Any = 1.0
        if fm.axisymmetric:
            r_c = dolfinx.fem.Function(dolfinx.fem.functionspace(msh, ("DG", 0)))
            r_c.interpolate(lambda p: p[0])  # DG0 interpolation: the value at the cell centroid
            w_mass = (x[0] + 3.0 * r_c) / 4.0
        md = {"quadrature_degree": QUADRATURE_DEGREE}
        dx = ufl.Measure("dx", domain=msh, subdomain_data=fm.cell_tags, metadata=md)
        dx_mass = ufl.Measure("dx", domain=msh, subdomain_data=fm.cell_tags, metadata=MASS_QUADRATURE)
        ds = ufl.Measure("ds", domain=msh, subdomain_data=fm.facet_tags, metadata=md)
        self.ds, self.w = ds, w

        present = set(np.unique(fm.cell_tags.values).tolist())
        present = set().union(*msh.comm.allgather(present))
        self.materials: dict[int, Material] = {}
        interior = enthalpy = perfusion = metabolic = 0
        for tag, name in fm.materials.items():
            if tag not in present:
                continue
            mat = scenario.medium if name == "medium" else get_material(name)
            self.materials[tag] = mat
            terms = pennes_terms(T, T_n, v, self.gamma_dt, mat, Ta, w, dx(tag), T_1=self.T_1, stage_c=self.stage_c,
                                 dx_mass=dx_mass(tag), w_mass=w_mass)
            interior += terms["residual"]
            enthalpy += terms["enthalpy"]
            perfusion += terms["perfusion"]
            metabolic += terms["metabolic"]
        ramp = ufl.min_value(1.0, ufl.max_value(0.0, (T - self.T_floor) / FLOOR_RAMP_K))
        boundary = (-self.h_tip * (self.T_cool - T) * v + self.q_tip * ramp * v) * w * ds(geo.ACTIVE)
        # Joule-Thomson device (TABULATED_FLUX): the table's flux into the medium while the gas is on,
        # and the probe wall's heat capacity lumped on the active surface's nodes (vertex rule; stored energy)
        self.gas_on = const(0.0)
        self.table = boundaries.table_of(Surface.ACTIVE)
        self.q_gas_in: Any = None
        if self.table is not None:
            self.q_gas_in = self.gas_on * _table_flux_ufl(msh, T, *self.table)
            boundary += -self.q_gas_in * v * w * ds(geo.ACTIVE)
        self.wall_J_per_m2_K = boundaries.wall_heat_capacity_J_per_m2_K(Surface.ACTIVE)
        self.Q_gas = None if self.q_gas_in is None else dolfinx.fem.form(self.q_gas_in * w * ds(geo.ACTIVE))
        self.T_surface_integral = dolfinx.fem.form(T * w * ds(geo.ACTIVE))
        boundary += -self.h_shaft * (self.T_shaft - T) * v * w * ds(geo.SHAFT)
        for tag, i in fm.vessel_tags.items():
            vs = scenario.vessels[i]
            boundary += -const(vs.heat_transfer_W_per_m2_K) * (const(vs.blood_temperature_C) - T) * v * w * ds(tag)
        self.F = interior + boundary
        #: lumped mass of each local node (m^3, per radian on (r, z) meshes): the weight of its enthalpy
        self.mass = self._vector(v * w_mass * ufl.Measure("dx", domain=msh, metadata=MASS_QUADRATURE))
        #: the probe wall's heat capacity lumped on the active surface's nodes (J/K, per radian on (r, z)
        #: meshes): the row sums of the surface mass times the wall's capacity per area. Added node by node
        #: (:class:`cryosim.fem.newton.FENewton`), not through UFL: FFCx 0.10 cannot compile a form with a
        #: vertex-rule facet integral after another integral (ZeroDivisionError in its quadrature grouping).
        self.wall_capacity = (self._vector(const(self.wall_J_per_m2_K) * v * w * ds(geo.ACTIVE))
                              if self.wall_J_per_m2_K > 0.0 else np.zeros_like(self.mass))
        self.G = dolfinx.fem.form(interior)
        self.E = dolfinx.fem.form(enthalpy)
        self.P = dolfinx.fem.form(perfusion)
        self.M = dolfinx.fem.form(metabolic)
        #: 2 pi for (r, z) meshes: integrals of w dx are per radian
        self.revolve = _revolve(fm)
        self.active_area_m2 = active_area_m2(fm)

        # boundary dofs
        tdim = msh.topology.dim
        msh.topology.create_connectivity(tdim - 1, tdim)

        def dofs(tags: list[int]) -> np.ndarray:
            facets = np.concatenate([fm.facet_tags.find(t) for t in tags]) if tags else np.array([], np.int32)
            return dolfinx.fem.locate_dofs_topological(V, tdim - 1, facets)

        self.active_dofs = dofs([geo.ACTIVE])
        self.far_dofs = dofs([geo.FAR])
        self.vessel_dofs = dofs(list(fm.vessel_tags))
        n_owned = V.dofmap.index_map.size_local
        probe = np.setdiff1d(np.union1d(self.active_dofs, dofs([geo.SHAFT])), self.far_dofs)
        other = np.union1d(self.far_dofs, self.vessel_dofs)
        self.probe_owned = probe[probe < n_owned]
        self.other_owned = other[other < n_owned]
        self.active_owned = self.active_dofs[self.active_dofs < n_owned]
        self.T_far = dolfinx.fem.Constant(msh, sc(scenario.initial_temperature_C))
        self.bc_far = dolfinx.fem.dirichletbc(self.T_far, self.far_dofs, V)
        self.bc_tip = dolfinx.fem.dirichletbc(self.T_tip, self.active_dofs, V)

    def _vector(self, L: Any) -> np.ndarray:
        """The assembled linear form ``L`` on the local nodes (owned and ghost, ghosts updated)."""
        import dolfinx

        b = dolfinx.fem.assemble_vector(dolfinx.fem.form(L))
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        b.scatter_forward()
        return b.array.copy()

    def node_materials(self) -> tuple[np.ndarray, np.ndarray]:
        """(row of the property table for each local node, the table): the material of a node is that of
        its neighbouring cells with the largest latent heat (the one that freezes, at a material interface)."""
        tags = sorted(self.materials)
        table = np.array([self.materials[t].property_row() for t in tags], float)
        latent = np.array([self.materials[t].latent_heat_J_per_m3 for t in tags])
        order = np.argsort(latent)  # assign the largest latent heat last so that it wins
        dm = self.V.dofmap.list
        node = np.full(self.T.x.array.size, int(order[-1]), np.int64)
        ct = self.fm.cell_tags
        for row in order:
            cells = ct.indices[ct.values == tags[row]]
            cells = cells[cells < dm.shape[0]]
            node[np.unique(dm[cells])] = row
        return node, table

    def scalar(self, form: Any) -> float:
        import dolfinx
        from mpi4py import MPI

        return float(self.fm.mesh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM))

    def wall_star(self) -> np.ndarray:
        r"""The wall's stage reference temperature :math:`T^n + c\,(T_1 - T^n)` on the local nodes (°C)."""
        Tn = self.T_n.x.array
        return Tn + float(self.stage_c.value) * (self.T_1.x.array - Tn)

    def _interior_vector(self) -> np.ndarray:
        """The interior residual G at ``T`` on the local nodes, the probe wall's nodal storage term included (W)."""
        import dolfinx

        b = dolfinx.fem.assemble_vector(self.G)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        a = b.array
        if self.wall_J_per_m2_K > 0.0:
            a = a + self.wall_capacity * (self.T.x.array - self.wall_star()) / float(self.gamma_dt.value)
        return a

    def stored_J(self) -> float:
        """Energy stored in the medium and the probe wall (J, per radian on (r, z) meshes), at ``T``."""
        return self.scalar(self.E) + self.wall_J()

    def wall_J(self) -> float:
        """Sensible heat of the probe wall at ``T`` (J, per radian on (r, z) meshes; 0 without a wall)."""
        from mpi4py import MPI

        if self.wall_J_per_m2_K <= 0.0:
            return 0.0
        n = self.V.dofmap.index_map.size_local
        loc = float(self.wall_capacity[:n] @ self.T.x.array[:n])
        return float(self.fm.mesh.comm.allreduce(loc, op=MPI.SUM))

    def boundary_rates_W(self) -> tuple[float, float, float]:
        """Heat entering the medium (and the probe wall) through (probes, far boundary + vessels, active surface)
        (W), from the reactions."""
        from mpi4py import MPI

        a = self._interior_vector()
        loc = np.array([a[self.probe_owned].sum(), a[self.other_owned].sum(), a[self.active_owned].sum()])
        out = np.empty(3)
        self.fm.mesh.comm.Allreduce(loc, out, op=MPI.SUM)
        return float(self.revolve * out[0]), float(self.revolve * out[1]), float(self.revolve * out[2])

    def stage_rates_W(self) -> tuple[float, float, float, float, float]:
        """(probe, far + vessels, perfusion, metabolic, active surface) heat rates (W) at the stage just solved."""
        probe, other, active = self.boundary_rates_W()
        return probe, other, self.revolve * self.scalar(self.P), self.revolve * self.scalar(self.M), active


class _Measures:
    """The current P1 field as the trackers see it: owned cells, their nodes, the probe-surface temperature."""

    def __init__(self, ph: _Physics) -> None:
        self.ph = ph
        V = ph.V
        msh = V.mesh
        self.comm = msh.comm
        tdim = msh.topology.dim
        n_cells = msh.topology.index_map(tdim).size_local
        self.cells = np.asarray(V.dofmap.list[:n_cells], np.int64)
        X = V.tabulate_dof_coordinates()
        self.X = X[:, :2].copy() if ph.fm.axisymmetric else X.copy()

    def surface_min_C(self, T: np.ndarray) -> float:
        from mpi4py import MPI

        loc = float(T[self.ph.active_owned].min()) if self.ph.active_owned.size else math.inf
        return float(self.comm.allreduce(loc, op=MPI.MIN))




class FESystem:
    r"""The FE enthalpy field under a :class:`BoundarySet`, advanced by SDIRK2 steps.

    The finite-element :class:`~cryosim.numerics.stepsize.SteppedSystem`,
    mirroring :class:`cryosim.fast.stepper.FVSystem`: :meth:`attempt` solves
    the two stages of the module docstring from the committed state
    ``ph.T_n`` without changing it, :meth:`accept` commits, :meth:`restart`
    forgets the slope used for the first Newton guess. ``energy`` holds the
    heat (J) into the medium per :data:`ENERGY_KEYS`, integrated with the
    SDIRK weights; ``last_rates`` the rates (W) at the last accepted step.
    """

    def __init__(self, ph: _Physics, boundaries: BoundarySet, numerics: Numerics, settings: FEMSettings,
                 limits: Any = None) -> None:
        self.ph = ph
        self.boundaries = boundaries
        self.temperature_tolerance_K = ph.scenario.step_temperature_tolerance_K()
        self.enthalpy_rtol = numerics.enthalpy_rtol
        self.comm = ph.fm.mesh.comm
        self.n_owned = ph.V.dofmap.index_map.size_local
        T0 = ph.scenario.initial_temperature_C
        self._warm_C = max(T0, ph.scenario.arterial_temperature_C)
        for f in (ph.T, ph.T_n, ph.T_1):
            f.x.array[:] = T0
        #: Dirichlet conditions in force (mutated in place: the Newton solver holds this list)
        self.bcs: list[Any] = [ph.bc_far]
        self._tip_dirichlet = False
        node_material, table = ph.node_materials()
        self._node_material, self._table = node_material, table
        self.newton = FENewton(ph.F, ph.T, self.bcs, ph.mass, node_material, table,
                               float(table[:, P_CU].max()), settings.newton,
                               nodal_capacity=ph.wall_capacity, nodal_reference=ph.wall_star, limits=limits)
        self.counters = self.newton.counters
        self.energy = {k: 0.0 for k in ENERGY_KEYS}
        self.last_rates = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.E0 = self.E_n = ph.stored_J()  # total enthalpy (J, per radian on (r, z) meshes)
        self.t = 0.0
        self._prev: tuple[np.ndarray, float] | None = None  # (dT/dt, dt) of the last step
        self.set_condition(0.0)

    # --- boundary conditions ---------------------------------------------
    def set_condition(self, t_s: float) -> tuple[float, float]:
        """Set the boundary data to their values at ``t_s``; return the (coldest, warmest) imposed temperature."""
        ph = self.ph
        now = self.boundaries.at(t_s)
        c = now[Surface.ACTIVE]
        ph.h_tip.value, ph.q_tip.value, ph.h_shaft.value, ph.gas_on.value = 0.0, 0.0, 0.0, 0.0
        self.bcs[:] = [ph.bc_far]
        lo = hi = float(ph.T_far.value)
        if c.kind == BCKind.TEMPERATURE:
            ph.T_tip.value = c.temperature_C
            self.bcs.append(ph.bc_tip)
        elif c.kind == BCKind.CONVECTIVE:
            ph.h_tip.value, ph.T_cool.value = c.heat_transfer_W_per_m2_K, c.temperature_C
        elif c.kind == BCKind.LIMITED_FLUX:
            ph.q_tip.value, ph.T_floor.value = -c.flux_W_per_m2, c.temperature_C
        elif c.kind == BCKind.FLUX:
            ph.q_tip.value, ph.T_floor.value = -c.flux_W_per_m2, NO_FLOOR_C
        elif c.kind == BCKind.TABULATED_FLUX:
            if ph.table != (c.table_T_C, c.table_flux_W_per_m2):
                raise ValueError("the active surface's flux table changed during the run; the FE form holds one")
            ph.gas_on.value = 1.0
        else:
            assert c.kind == BCKind.ADIABATIC, c.kind
        if c.kind in (BCKind.TEMPERATURE, BCKind.CONVECTIVE, BCKind.LIMITED_FLUX, BCKind.TABULATED_FLUX):
            lo, hi = min(lo, c.temperature_C), max(hi, c.temperature_C)
        if (c.kind == BCKind.TEMPERATURE) != self._tip_dirichlet:
            self.newton.forget_factors()  # held rows changed: the lagged factors are those of another matrix
        self._tip_dirichlet = c.kind == BCKind.TEMPERATURE
        sh = now[Surface.SHAFT]
        if sh.kind == BCKind.CONVECTIVE:
            ph.h_shaft.value, ph.T_shaft.value = sh.heat_transfer_W_per_m2_K, sh.temperature_C
        return lo, hi

    # --- Newton -----------------------------------------------------------
    def _solve(self) -> tuple[bool, int, str]:
        """Newton (:class:`cryosim.fem.newton.FENewton`) from the guess in ``ph.T``: (converged, iterations, why not)."""
        from mpi4py import MPI

        ok, its, why = self.newton.solve(float(self.ph.gamma_dt.value))
        finite = bool(self.comm.allreduce(bool(np.all(np.isfinite(self.ph.T.x.array))), op=MPI.LAND))
        if ok and finite:
            return True, its, ""
        return False, its, why or "non-finite temperatures"

    def _clipped(self, T_guess: np.ndarray, bounds_C: tuple[float, float]) -> np.ndarray:
        """An initial Newton guess kept within the committed range and the imposed temperatures."""
        from mpi4py import MPI

        Tn = self.ph.T_n.x.array[: self.n_owned]
        lo = self.comm.allreduce(min(float(Tn.min()) if Tn.size else math.inf, bounds_C[0]), op=MPI.MIN)
        hi = self.comm.allreduce(max(float(Tn.max()) if Tn.size else -math.inf, bounds_C[1], self._warm_C), op=MPI.MAX)
        return np.clip(T_guess, lo, hi)

    def _dirichlet_dofs(self) -> np.ndarray:
        ph = self.ph
        return np.union1d(ph.far_dofs, ph.active_dofs) if self._tip_dirichlet else ph.far_dofs

    # --- SDIRK2System (cryosim.numerics.sdirk2) ---------------------------
    def committed_temperature(self) -> np.ndarray:
        return self.ph.T_n.x.array

    def set_stage(self, stage: int, t_s: float, gamma_dt_s: float) -> None:
        r"""Boundary data at ``t_s`` and the stage's :math:`H^*` (module docstring): stage 1,
        :math:`H(T^n)`; stage 2, :math:`H(T^n) + c_2 (H(T_1) - H(T^n))` with the stage-1 solution in ``ph.T``."""
        ph = self.ph
        ph.gamma_dt.value = gamma_dt_s
        if stage == 1:
            ph.stage_c.value = 0.0
        else:
            ph.T_1.x.array[:] = ph.T.x.array
            ph.stage_c.value = STAGE2_C
        self._bounds = self.set_condition(t_s)

    def solve_stage(self, guess_T: np.ndarray | None) -> tuple[bool, int, str]:
        """Newton from ``guess_T`` (None: the committed state), clipped to the committed range and the imposed
        temperatures; the solution is left in ``ph.T``."""
        ph = self.ph
        ph.T.x.array[:] = self._clipped(ph.T_n.x.array if guess_T is None else guess_T, self._bounds)
        return self._solve()

    def stage_rates(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(:meth:`_Physics.stage_rates_W`, its first four: the heat rates in the order of :data:`ENERGY_KEYS`)."""
        rates = self.ph.stage_rates_W()
        return rates, rates[:4]

    def embedded(self, c: float) -> np.ndarray:
        r"""Nodal temperatures of :math:`H(T^n) + c\,(H(T_1) - H(T^n))`, the extrapolation taken in enthalpy node
        by node (:func:`cryosim.fem.newton.enthalpy_extrapolation`; call after :meth:`set_stage` of stage 2)."""
        Tn = self.ph.T_n.x.array
        low = np.empty_like(Tn)
        enthalpy_extrapolation(Tn, self.ph.T_1.x.array, c, self._node_material, self._table, low)
        return low

    def stage2_guess(self, low: np.ndarray, dt_s: float) -> np.ndarray:
        """Stage 2's guess: the embedded first-order solution itself."""
        return low

    def error_measures(self, low: np.ndarray) -> tuple[float, float, float, float]:
        r"""The differences of the stage-2 solution :math:`T_2` (in ``ph.T``) from the embedded ``low``.

        ``low`` (:meth:`embedded`: :math:`T_{low} = T(H(T^n) + (H(T_1) - H(T^n))/\gamma)`, the first-order
        solution taken in *enthalpy* node by node) is set to the Dirichlet data where they hold (prescribed
        values carry no time error; without this a tip temperature that jumps at t = 0 would look like an
        error no step size removes). Returns the stored-energy difference
        :math:`\int (H(T_2) - H(T_{low})) w` plus the probe wall's (J, per radian on (r, z) meshes), the
        stored-energy change since t = 0 at :math:`T_2` and at :math:`T^n`, and the largest nodal
        :math:`|T_2 - T_{low}|` (K): the two measures of :func:`cryosim.numerics.sdirk2.error_ratio`, as in
        the fast solver (:meth:`cryosim.fast.stepper.FVSystem.error_measures`). The nodal temperature
        difference is that of the nodal enthalpy extrapolation inverted node by node (a node on a material
        interface takes the curve of :meth:`_Physics.node_materials`); the energy difference integrates
        :math:`H(T_{low})` with the lumped enthalpy quadrature.
        """
        from mpi4py import MPI

        ph = self.ph
        T2 = ph.T.x.array.copy()
        E2 = ph.stored_J()
        fixed = self._dirichlet_dofs()
        low[fixed] = T2[fixed]
        n = self.n_owned
        dT = float(np.max(np.abs(T2[:n] - low[:n]))) if n else 0.0
        dT = float(self.comm.allreduce(dT, op=MPI.MAX))
        ph.T.x.array[:] = low
        E_low = ph.stored_J()
        ph.T.x.array[:] = T2
        self._result = (T2, E2)
        return E2 - E_low, E2 - self.E0, self.E_n - self.E0, dT

    def guard_ratio(self, t_s: float, dt_s: float) -> float:
        """No guard of its own beyond the error estimate and Newton's convergence."""
        return 0.0

    def stage_state(self) -> tuple[np.ndarray, float]:
        return self._result

    # --- SteppedSystem ----------------------------------------------------
    def attempt(self, t_s: float, dt_s: float) -> Attempt:
        """One SDIRK2 step (module docstring) from the committed state: :func:`cryosim.numerics.sdirk2.sdirk2_step`;
        ``ph.T_n`` is left as it was."""
        return sdirk2_step(self, t_s, dt_s, None if self._prev is None else self._prev[0])

    def accept(self, attempt: Attempt, t_new_s: float) -> None:
        (T2, E2), heat, rates, dt = attempt.payload
        ph = self.ph
        for k, v in zip(ENERGY_KEYS, heat):
            self.energy[k] += v
        self._prev = ((T2 - ph.T_n.x.array) / dt, dt)
        ph.T_n.x.array[:] = T2
        ph.T.x.array[:] = T2
        self.E_n, self.t, self.last_rates = E2, t_new_s, rates

    def restart(self) -> None:
        self._prev = None

    def restore(self) -> None:
        """Put the committed state back into ``ph.T`` (after an attempt that was not accepted)."""
        self.ph.T.x.array[:] = self.ph.T_n.x.array

    def close(self) -> None:
        self.newton.close()


def _far_field_disturbance_K(ph: Any, meas: Any, far_temperature_C: float) -> float:
    """Largest |T - T_far| (K) on the nodes one cell inside the held far boundary (its own nodes are held)."""
    from mpi4py import MPI

    loc = far_field_disturbance_K(ph.T.x.array, ph.far_dofs, far_temperature_C, meas.cells)
    return float(ph.fm.mesh.comm.allreduce(loc, op=MPI.MAX))


def run_fem(scenario: Scenario, output_dir: str | Path | None = None,
            progress: Callable[[float, float], None] | None = None, *, force_3d: bool = False,
            settings: FEMSettings | None = None, comm: Any = None, write_fields: bool = True,
            trackers: Iterable[Tracker] | None = None) -> Results:
    """Run ``scenario`` with finite elements; axisymmetric when the scene allows it, else 3D.

    ``force_3d`` meshes an axisymmetric scene in 3D (verification). With
    ``output_dir`` the time series streams to ``timeseries.csv`` there, the P1
    temperature field is written at t = 0, every protocol step's end and the
    output times (``temperature.pvd`` and its VTU frames,
    :mod:`cryosim.post.series`; ``write_fields=False``: not) and the 0 °C
    surface (``ice_ball_0C.png``) at the end. ``trackers``: extra
    :class:`~cryosim.post.trackers.Tracker` objects fed with every step. Runs
    under MPI (``mpirun -n N``): every rank returns the same :class:`Results`.
    ``scenario.numerics``: ``resolution``, ``domain_radius_m``, the axial
    extents and ``force_3d`` shape the mesh (:mod:`cryosim.fem.geometry`);
    ``temperature_tolerance_K``, ``enthalpy_rtol``, ``max_step_s``,
    ``fixed_step_s`` and ``output_times_s`` drive the step controller, as in
    the fast solver; ``max_wall_s`` (counted from the start of this call,
    meshing included) and ``max_memory_GiB`` (all ranks' resident memory
    together) are held after every step attempt and every Newton
    factorisation, on all ranks together (:class:`cryosim.numerics.budget.RunLimits`).
    """
    _import_dolfinx()
    from mpi4py import MPI

    from ..numerics.budget import RunLimits

    comm = MPI.COMM_WORLD if comm is None else comm
    s = settings or FEMSettings()
    num = scenario.numerics
    limits = RunLimits.of(num, comm)
    wall0 = time.perf_counter()
    fm = geo.build_mesh(scenario, comm, force_3d=force_3d or num.force_3d)
    mesh_s = time.perf_counter() - wall0
    T0 = scenario.initial_temperature_C
    boundaries = probe_boundaries(scenario.probe, scenario.protocol, active_area_m2(fm), T0, device_tip=True)
    tip = boundaries[Surface.ACTIVE]
    device = tip if isinstance(tip, DeviceTip) else None
    ph = _Physics(scenario, fm, boundaries)
    T = ph.T
    limits.check("after the meshing and the set-up, before the first step")
    system = FESystem(ph, boundaries, num, s, limits)
    meas = _Measures(ph)
    out = None if output_dir is None else Path(output_dir)
    if out is not None and comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    rec = TrackerList(scenario, "fem", "axisymmetric" if fm.axisymmetric else "3d",
                      stream_to=(out / "timeseries.csv") if (out is not None and comm.rank == 0) else None,
                      trackers=trackers or (), device=device is not None,
                      fields_to=out if write_fields else None)

    E0 = ph.stored_J()
    energy = system.energy  # the system accumulates into it
    rates = (0.0, 0.0)

    W0 = ph.wall_J()

    def extras(t: float, surface_min_C: float) -> dict[str, float]:
        """The device's series (:data:`~cryosim.post.trackers.DEVICE_COLUMNS`) for the field in ``T`` at ``t``."""
        if device is None:
            return {}
        area = ph.active_area_m2
        mean_C = ph.revolve * ph.scalar(ph.T_surface_integral) / area
        if boundaries.at(t)[Surface.ACTIVE].kind == BCKind.TABULATED_FLUX:
            into_W = ph.revolve * ph.scalar(ph.Q_gas)
        else:
            into_W = system.last_rates[4]  # the active surface's reaction at the last stage
        return device_extras(device, t, mean_C, surface_min_C, into_W, area, ph.revolve * (ph.wall_J() - W0))

    def view(t: float, is_output: bool = False) -> StepView:
        Tl = T.x.array
        surface_min_C = meas.surface_min_C(Tl)
        return StepView(t_s=t, is_output=is_output, t_end_s=scenario.protocol.duration_s, geometry=rec.geometry,
                        probe_surface_C=surface_min_C, probe_heat_W=-rates[0],
                        energy_J=dict(energy, enthalpy_change_J=ph.revolve * (ph.stored_J() - E0)),
                        field_fn=lambda: NodalField(meas.X, meas.cells, Tl), comm=comm,
                        extras=extras(t, surface_min_C))

    def record(t: float, is_output: bool = False) -> None:
        rec.record(view(t, is_output))

    t_end = scenario.protocol.duration_s

    def on_accept(t: float, is_output: bool) -> None:
        nonlocal rates
        rates = system.last_rates[:2]
        record(t, is_output)
        if progress is not None:
            progress(t, t_end)

    record(0.0)
    try:
        # no step cuts for the guard's bounds (cryosim.numerics.stepsize.Bounds): P1 elements are not monotone, and
        # the excursions measured are spatial -- cutting the steps left them as they were (3D default scenario at
        # resolution 0.5: 3.0 K either way, with twice the steps) -- so a breach is flagged (post.guards)
        st = integrate(system, t_end, step_settings(num, s.first_step_s), breaks_s=boundaries.breakpoints_s(),
                       outputs_s=num.output_times_s, on_accept=on_accept, limits=limits)
    finally:
        system.restore()
        rec.close()
        system.close()
    stats = st.as_dict()
    stats.update(system.counters)
    stats.update(
        wall_s=time.perf_counter() - wall0, mesh_s=mesh_s, dofs=int(ph.V.dofmap.index_map.size_global),
        cells=int(fm.mesh.topology.index_map(fm.mesh.topology.dim).size_global), ranks=comm.size,
        domain_radius_m=fm.domain_radius_m, mesh_sizes_m=[fm.sizes.edge_m, fm.sizes.probe_m, fm.sizes.front_m,
                                                          fm.sizes.far_m],
        active_area_m2=ph.active_area_m2,
        far_field_max_disturbance_K=_far_field_disturbance_K(ph, meas, T0),
    )
    if device is not None:
        stats.update(device_stats(device, ph.wall_J_per_m2_K * ph.active_area_m2))
    results = rec.finish(view(system.t), stats)
    if out is not None and comm.rank == 0:
        from .output import render_ice_ball

        try:
            render_ice_ball(results.final_field, out / "ice_ball_0C.png", iso_C=0.0, scenario=scenario,
                            title=f"{scenario.name}: 0 °C isotherm at t = {system.t:g} s")
        except ImportError as e:  # pyvista missing: keep the run, say what is lacking
            results.diagnostics["render_error"] = str(e)
    return results
