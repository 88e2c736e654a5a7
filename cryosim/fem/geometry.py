r"""Meshes for the finite-element solver, built with gmsh (OpenCASCADE kernel).

Coordinates (m) follow :mod:`cryosim.physics.scene`: the main probe's distal end is at
the origin and its axis points along +z towards the shaft. The medium is a
cylinder of radius :math:`R` (:meth:`cryosim.scenario.Scenario.domain_radius_m`)
spanning :math:`-R \le z \le L_a + R` -- the same box as the fast solver, so
both solvers see the same far boundary. The probe is a *hole* in the medium:

* active tip: the cooled length :math:`0 \le z \le L_a` including the distal
  end, which is flat, rounded (hemisphere of the probe radius) or sharp (a cone
  of length :data:`SHARP_TIP_LENGTH_RADII` probe radii);
* shaft: the insulated rest of the needle, leaving the medium through the far
  boundary.

Axisymmetric scenes are meshed in the (r, z) half-plane (``x[0] = r``,
``x[1] = z``); everything else in 3D. Regions and boundaries are tagged:

========================  =====================================================
cell tag                  material
========================  =====================================================
:data:`TISSUE`            ``scenario.medium``
:data:`CORTICAL`          ``get_material("cortical_bone")``
:data:`CANCELLOUS`        ``get_material("cancellous_bone")``
========================  =====================================================

Facet tags: :data:`ACTIVE` (every probe's cooled surface), :data:`SHAFT`,
:data:`FAR` (outer surface), :data:`AXIS` (r = 0, axisymmetric only) and
``VESSEL + i`` for the wall of vessel ``i`` (a hole in the medium).

Mesh size: Distance + Threshold fields grade the cells from
:math:`h_{edge}` at the tip's edges (where the field is singular: re-entrant
corners, change from cooled to insulated wall) and :math:`h_{probe}` on the
active surface to :math:`h_{front}` over the region the ice front is expected
to cross, then to :math:`h_{far}` at the outer boundary. Every size is divided
by ``scenario.numerics.resolution``.

What the geometry leaves out: the probe's own heat capacity and the inside of
the needle (the tip condition applies on its outer surface), the bevel of a
real needle (a cone stands in for a sharp tip), the curvature of real bone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import ScenarioError
from ..physics.boundary import Surface
from ..meshing.cvfem import threshold_field
from ..scenario import Scenario

__all__ = [
    "TISSUE", "CORTICAL", "CANCELLOUS", "ACTIVE", "SHAFT", "FAR", "AXIS", "VESSEL",
    "MeshSizes", "mesh_sizes", "FEMesh", "build_mesh",
]

# Cell tags (materials) and facet tags (boundaries).
TISSUE, CORTICAL, CANCELLOUS = 1, 2, 3
ACTIVE, SHAFT, FAR, AXIS = int(Surface.ACTIVE), int(Surface.SHAFT), int(Surface.FAR), int(Surface.AXIS)
VESSEL = 10  # first vessel wall tag; vessel i has VESSEL + i

#: Length of the cone that stands for a sharp tip, in probe radii (a 3-radius
#: cone has an 18° half-angle, between a trocar and a lancet point; modelling
#: choice, no bevel geometry is represented).
SHARP_TIP_LENGTH_RADII = 3.0

#: Base cell sizes (m) at resolution 1, (r, z) meshes; every size is divided by
#: numerics.resolution. Chosen (with the lumped enthalpy and SDIRK2 of
#: cryosim.fem.solver) so that the default scenario's 0 °C radius, length and
#: volume are within 1 % of a refined run (resolution 3, tight step tolerances:
#: benchmarks/fem_default.py; measured -0.05 / +0.32 / +0.25 % at resolution 1).
SIZES_2D_M = {"edge": 0.06e-3, "probe": 0.15e-3, "front": 0.4e-3, "far": 5.0e-3}
#: Same for 3D meshes: coarser, the cost grows as h^-3.
SIZES_3D_M = {"edge": 0.15e-3, "probe": 0.25e-3, "front": 0.5e-3, "far": 5.0e-3}
#: The fine zone extends this factor beyond the estimated ice front.
ICE_ZONE_MARGIN = 1.0
#: Away from the refined zones the cell size grows by this much per unit
#: distance (dh/dd; 0.35 keeps neighbouring cells within ~35 % of each other).
SIZE_GROWTH = 0.35
#: Distance (m) over which h grows from the probe size to the front size,
#: in probe radii.
PROBE_GRADING_RADII = 2.0
#: Fewest segments around a shaft or vessel circle in 3D (a polygon of 10
#: sides has 1.6 % less perimeter than its circle).
CIRCLE_SEGMENTS = 10
#: Fewest cells around a probe's circumference for the 3D surface mesh to be valid.
MIN_PROBE_SEGMENTS = 6
#: Geometric tolerance for classifying gmsh entities (m); gmsh pads bounding boxes by 1e-7 m.
GEOM_TOL_M = 1e-6


@dataclass(frozen=True)
class MeshSizes:
    """Target cell sizes (m)."""

    edge_m: float
    probe_m: float
    front_m: float
    far_m: float


def mesh_sizes(scenario: Scenario, three_d: bool) -> MeshSizes:
    """Cell sizes for ``scenario`` (base sizes divided by the resolution)."""
    base = SIZES_3D_M if three_d else SIZES_2D_M
    res = scenario.numerics.resolution
    # thin needles (27 G: r = 0.2 mm) need cells that resolve their circumference,
    # else the surface triangles of the hole overlap (gmsh: "overlapping facets")
    circle = 2.0 * math.pi * scenario.probe.radius_m / MIN_PROBE_SEGMENTS
    return MeshSizes(min(base["edge"] / res, circle), min(base["probe"] / res, circle),
                     base["front"] / res, base["far"] / res)


@dataclass
class FEMesh:
    """A DOLFINx mesh with its tags and what was built."""

    mesh: Any
    cell_tags: Any
    facet_tags: Any
    axisymmetric: bool
    domain_radius_m: float
    z_min_m: float  # axial extent of the medium (the distal end of the probe is at z = 0)
    z_max_m: float
    sizes: MeshSizes
    vessel_tags: dict[int, int] = field(default_factory=dict)  # facet tag -> vessel index
    materials: dict[int, str] = field(default_factory=dict)  # cell tag -> material name ("medium" for the scenario's)


def _require_gmsh() -> Any:
    try:
        import gmsh
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("the finite-element solver needs gmsh: pip install 'cryosim[fem]' (or gmsh>=4.12)") from e
    return gmsh


def _rotation_to(direction: tuple[float, float, float]) -> tuple[tuple[float, float, float], float] | None:
    """Axis and angle (rad) of the rotation taking +z to ``direction`` (None if none needed)."""
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    axis = np.cross([0.0, 0.0, 1.0], d)
    s, c = float(np.linalg.norm(axis)), float(d[2])
    if s < 1e-12:
        return None if c > 0 else ((1.0, 0.0, 0.0), math.pi)
    return (tuple(float(a) for a in axis / s), math.atan2(s, c))  # type: ignore[return-value]


def _probe_pieces_3d(gmsh: Any, scenario: Scenario, shaft_length_m: float) -> tuple[list[int], list[int]]:
    """Active-tip and shaft solids of the main probe (distal end at the origin, axis +z)."""
    occ = gmsh.model.occ
    p = scenario.probe
    rp, La = p.radius_m, p.active_length_m
    if p.tip_shape == "flat":
        active = [occ.addCylinder(0, 0, 0, 0, 0, La, rp)]
    else:
        cap_len = rp if p.tip_shape == "rounded" else SHARP_TIP_LENGTH_RADII * rp
        if La <= cap_len * 1.05:
            raise ScenarioError("probe.active_length_m", La,
                                f"an active length above {1.05 * cap_len:g} m for a {p.tip_shape} tip of this radius")
        cap = (occ.addSphere(0, 0, rp, rp) if p.tip_shape == "rounded"
               else occ.addCone(0, 0, 0, 0, 0, cap_len, 0.0, rp))
        body = occ.addCylinder(0, 0, cap_len, 0, 0, La - cap_len, rp)
        fused, _ = occ.fuse([(3, body)], [(3, cap)])
        active = [t for _, t in fused]
    shaft = [occ.addCylinder(0, 0, La, 0, 0, shaft_length_m, rp)]
    return active, shaft


def _probe_pieces_2d(gmsh: Any, scenario: Scenario, shaft_length_m: float) -> tuple[list[int], list[int]]:
    """Same in the (r, z) plane, mirrored to r < 0 (the mirror half is cut off with the rest)."""
    occ = gmsh.model.occ
    p = scenario.probe
    rp, La = p.radius_m, p.active_length_m
    if p.tip_shape == "flat":
        active = [occ.addRectangle(-rp, 0, 0, 2 * rp, La)]
    else:
        cap_len = rp if p.tip_shape == "rounded" else SHARP_TIP_LENGTH_RADII * rp
        if La <= cap_len * 1.05:
            raise ScenarioError("probe.active_length_m", La,
                                f"an active length above {1.05 * cap_len:g} m for a {p.tip_shape} tip of this radius")
        body = occ.addRectangle(-rp, cap_len, 0, 2 * rp, La - cap_len)
        if p.tip_shape == "rounded":
            cap = occ.addDisk(0, rp, 0, rp, rp)
        else:
            pts = [occ.addPoint(x, z, 0) for x, z in ((0, 0), (rp, cap_len), (-rp, cap_len))]
            lines = [occ.addLine(pts[i], pts[(i + 1) % 3]) for i in range(3)]
            cap = occ.addPlaneSurface([occ.addCurveLoop(lines)])
        fused, _ = occ.fuse([(2, body)], [(2, cap)])
        active = [t for _, t in fused]
    shaft = [occ.addRectangle(-rp, La, 0, 2 * rp, shaft_length_m)]
    return active, shaft


def _place(gmsh: Any, dim: int, tags: list[int], position: tuple[float, float, float],
           direction: tuple[float, float, float]) -> None:
    occ = gmsh.model.occ
    rot = _rotation_to(direction)
    dimtags = [(dim, t) for t in tags]
    if rot is not None:
        (ax, ay, az), angle = rot
        occ.rotate(dimtags, 0, 0, 0, ax, ay, az, angle)
    occ.translate(dimtags, *position)


def _corners(scenario: Scenario, dim: int) -> list[tuple[float, float]]:
    """(rho, z) of the main probe's sharp edges: rho = distance from the axis (m).

    Flat tip: the distal rim and the end of the active length; rounded: the end
    of the active length; sharp: apex, cone base and end of the active length.
    """
    p = scenario.probe
    rp, La = p.radius_m, p.active_length_m
    if p.tip_shape == "flat":
        return [(rp, 0.0), (rp, La)]
    if p.tip_shape == "rounded":
        return [(rp, La)]
    return [(0.0, 0.0), (rp, SHARP_TIP_LENGTH_RADII * rp), (rp, La)]


def _size_fields(gmsh: Any, dim: int, scenario: Scenario, active: list[int], shaft: list[int],
                 vessel_walls: list[list[int]],
                 vessel_sizes_m: list[float], sizes: MeshSizes, ice_distance_m: float, domain_radius_m: float) -> None:
    r"""Distance + Threshold fields; the background size is their minimum.

    * active surface: :math:`h_{probe}` growing linearly to :math:`h_{far}`,
      reaching :math:`h_{front}` :data:`PROBE_GRADING_RADII` probe radii away;
    * ice zone: :math:`h_{front}` up to :data:`ICE_ZONE_MARGIN` times the
      expected front distance, then growing to :math:`h_{far}` at the boundary;
    * tip edges (circles in 3D, points in (r, z)): :math:`h_{edge}` growing
      linearly, reaching :math:`h_{probe}` two probe-size cells away. Their distance is written as
      a MathEval expression (torus distance about the z axis);
    * shaft and vessel walls: a size giving :data:`CIRCLE_SEGMENTS` segments
      around the circumference (3D).
    """
    fld = gmsh.model.mesh.field
    surf_key = "SurfacesList" if dim == 3 else "CurvesList"
    rp = scenario.probe.radius_m
    thresholds = []

    def threshold(dist: int, smin: float, smax: float, dmin: float, dmax: float) -> None:
        thresholds.append(threshold_field(fld, dist, smin, smax, dmin, dmax))

    d_active = fld.add("Distance")
    fld.setNumbers(d_active, surf_key, active)
    fld.setNumber(d_active, "Sampling", 100)
    grade = PROBE_GRADING_RADII * rp * (sizes.far_m - sizes.probe_m) / max(sizes.front_m - sizes.probe_m, 1e-12)
    threshold(d_active, sizes.probe_m, sizes.far_m, 0.0, grade)
    zone = ICE_ZONE_MARGIN * ice_distance_m
    threshold(d_active, sizes.front_m, sizes.far_m, zone, zone + (sizes.far_m - sizes.front_m) / SIZE_GROWTH)
    rho = "Sqrt(x*x+y*y)" if dim == 3 else "x"
    zc = "z" if dim == 3 else "y"
    for r0, z0 in _corners(scenario, dim):
        e = fld.add("MathEval")
        fld.setString(e, "F", f"Sqrt(({rho}-({r0:.12g}))^2+({zc}-({z0:.12g}))^2)")
        # Threshold returns SizeMax everywhere beyond DistMax, so every field
        # grades to the far size; this one passes h_probe two probe cells away
        reach = 2.0 * sizes.probe_m * (sizes.far_m - sizes.edge_m) / max(sizes.probe_m - sizes.edge_m, 1e-12)
        threshold(e, sizes.edge_m, sizes.far_m, 0.0, reach)
    if shaft and dim == 3:
        # the shaft leaves through the far boundary: its circle needs enough segments
        d_s = fld.add("Distance")
        fld.setNumbers(d_s, surf_key, shaft)
        fld.setNumber(d_s, "Sampling", 100)
        h_s = min(sizes.front_m, 2.0 * math.pi * rp / CIRCLE_SEGMENTS)
        threshold(d_s, h_s, sizes.far_m, 0.0, (sizes.far_m - h_s) / SIZE_GROWTH)
    for walls, h in zip(vessel_walls, vessel_sizes_m):
        if not walls:
            continue
        d_v = fld.add("Distance")
        fld.setNumbers(d_v, surf_key, walls)
        fld.setNumber(d_v, "Sampling", 100)
        threshold(d_v, h, sizes.far_m, 0.0, (sizes.far_m - h) / SIZE_GROWTH)
    m = fld.add("Min")
    fld.setNumbers(m, "FieldsList", thresholds)
    fld.setAsBackgroundMesh(m)
    for opt in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{opt}", 0)


def build_mesh(scenario: Scenario, comm: Any, *, force_3d: bool = False, verbose: bool = False) -> FEMesh:
    """Mesh the medium around the probe(s) with bone and vessels; return the tagged DOLFINx mesh.

    Axisymmetric (r, z) when ``scenario.axisymmetric`` and not ``force_3d``,
    3D otherwise. The gmsh model is built on rank 0 and distributed over
    ``comm``.
    """
    gmsh = _require_gmsh()
    import dolfinx.io.gmsh as dgmsh

    three_d = force_3d or not scenario.axisymmetric
    dim = 3 if three_d else 2
    R = scenario.domain_radius_m()
    n = scenario.numerics
    z0 = -(R if n.axial_below_m is None else n.axial_below_m)
    z1 = scenario.probe.active_length_m + (R if n.axial_above_m is None else n.axial_above_m)
    sizes = mesh_sizes(scenario, three_d)
    ice_d = scenario.mesh_front_distance_m()
    vessel_tags = {VESSEL + i: i for i in range(len(scenario.vessels))}
    materials = {TISSUE: "medium"}
    if scenario.bone is not None:
        materials.update({CORTICAL: "cortical_bone", CANCELLOUS: "cancellous_bone"})

    started_here = not gmsh.isInitialized()
    if started_here:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
    gmsh.model.add("cryosim")
    try:
        if comm.rank == 0:
            _build_model(gmsh, scenario, dim, R, z0, z1, sizes, ice_d)
        data = dgmsh.model_to_mesh(gmsh.model, comm, 0, gdim=dim)
    finally:
        gmsh.model.remove()
        if started_here:
            gmsh.finalize()
    return FEMesh(mesh=data.mesh, cell_tags=data.cell_tags, facet_tags=data.facet_tags, axisymmetric=not three_d,
                  domain_radius_m=R, z_min_m=z0, z_max_m=z1, sizes=sizes, vessel_tags=vessel_tags,
                  materials=materials)


def _build_model(gmsh: Any, scenario: Scenario, dim: int, R: float, z0: float, z1: float, sizes: MeshSizes,
                 ice_d: float) -> None:
    occ = gmsh.model.occ
    big = 4.0 * (z1 - z0 + R)  # longer than any line across the medium
    if dim == 3:
        domain = occ.addCylinder(0, 0, z0, 0, 0, z1 - z0, R)
    else:
        domain = occ.addRectangle(0, z0, 0, R, z1 - z0)
    # probes: (active pieces, shaft pieces)
    make = _probe_pieces_3d if dim == 3 else _probe_pieces_2d
    active, shaft = make(gmsh, scenario, big)
    for placement in scenario.extra_probes:
        a, s = make(gmsh, scenario, big)
        _place(gmsh, dim, a + s, placement.position_m, placement.direction)
        active += a
        shaft += s
    # bone layers: (tag, material) in order from the near surface
    bone: list[tuple[int, int]] = []
    if scenario.bone is not None:
        b = scenario.bone
        layers = [(CORTICAL, b.cortical_thickness_m), (CANCELLOUS, b.cancellous_thickness_m),
                  (CORTICAL, b.cortical_thickness_m)]
        depth = b.distance_m
        for mat, thick in layers:
            if thick <= 0.0:
                continue
            if dim == 3:
                box = occ.addBox(depth, -big / 2, -big / 2, thick, big, big)
                # rotate +x onto the plate normal (cos a, 0, -sin a): rotation about +y by a
                occ.rotate([(3, box)], 0, 0, 0, 0, 1, 0, math.radians(b.angle_deg))
            else:  # axisymmetric: plate perpendicular to the probe, below the tip
                box = occ.addRectangle(-big / 2, -depth - thick, 0, big, thick)
            bone.append((box, mat))
            depth += thick
    vessels: list[int] = []
    for v in scenario.vessels:
        dx, dy, dz = v.direction
        cx, cy, cz = v.center_m
        vessels.append(occ.addCylinder(cx - dx * big / 2, cy - dy * big / 2, cz - dz * big / 2,
                                       dx * big, dy * big, dz * big, v.diameter_m / 2))
    tools = [(dim, t) for t in active + shaft] + [(dim, t) for t, _ in bone] + [(dim, t) for t in vessels]
    _, out_map = occ.fragment([(dim, domain)], tools)
    occ.synchronize()
    children = [{t for _, t in m} for m in out_map]
    in_domain = children[0]
    k = 1
    active_kids = set().union(*children[k:k + len(active)]); k += len(active)
    shaft_kids = set().union(*children[k:k + len(shaft)]); k += len(shaft)
    bone_kids = {mat: set() for mat in (CORTICAL, CANCELLOUS)}
    for (_, mat) in bone:
        bone_kids[mat] |= children[k]; k += 1
    vessel_kids = [children[k + i] for i in range(len(vessels))]
    holes = active_kids | shaft_kids | set().union(set(), *vessel_kids)
    every = {t for _, t in gmsh.model.getEntities(dim)}
    keep = sorted(in_domain - holes)
    if not keep:
        raise ScenarioError("numerics.domain_radius_m", R, "a medium left around the probe")

    def bnd(tags: set[int]) -> set[int]:
        if not tags:
            return set()
        return {abs(t) for _, t in gmsh.model.getBoundary([(dim, t) for t in tags], combined=False, oriented=False)}

    active_faces, shaft_faces = bnd(active_kids), bnd(shaft_kids)
    vessel_faces = [bnd(v) for v in vessel_kids]
    occ.remove([(dim, t) for t in sorted(every - set(keep))], recursive=True)
    occ.synchronize()

    # materials
    cortical = [t for t in keep if t in bone_kids[CORTICAL]]
    cancellous = [t for t in keep if t in bone_kids[CANCELLOUS] and t not in bone_kids[CORTICAL]]
    tissue = [t for t in keep if t not in cortical and t not in cancellous]
    for tags, mat, name in ((tissue, TISSUE, "tissue"), (cortical, CORTICAL, "cortical_bone"),
                            (cancellous, CANCELLOUS, "cancellous_bone")):
        if tags:
            gmsh.model.addPhysicalGroup(dim, tags, mat, name=name)
    # boundaries
    outer = {abs(t) for _, t in gmsh.model.getBoundary([(dim, t) for t in keep], combined=True, oriented=False)}
    groups: dict[int, list[int]] = {ACTIVE: [], SHAFT: [], FAR: [], AXIS: []}
    for i in range(len(vessels)):
        groups[VESSEL + i] = []
    for f in sorted(outer):
        if f in active_faces:
            groups[ACTIVE].append(f)
        elif f in shaft_faces:
            groups[SHAFT].append(f)
        elif any(f in vf for vf in vessel_faces):
            i = next(i for i, vf in enumerate(vessel_faces) if f in vf)
            groups[VESSEL + i].append(f)
        else:
            xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(dim - 1, f)
            on_axis = dim == 2 and abs(xmin) < GEOM_TOL_M and abs(xmax) < GEOM_TOL_M
            groups[AXIS if on_axis else FAR].append(f)
    if not groups[ACTIVE]:
        raise ScenarioError("probe", scenario.probe, "an active tip inside the medium")
    names = {ACTIVE: "active", SHAFT: "shaft", FAR: "far", AXIS: "axis"}
    for tag, faces in groups.items():
        if faces:
            gmsh.model.addPhysicalGroup(dim - 1, faces, tag, name=names.get(tag, f"vessel{tag - VESSEL}"))
    vessel_sizes = [min(sizes.front_m, math.pi * v.diameter_m / CIRCLE_SEGMENTS) for v in scenario.vessels]
    _size_fields(gmsh, dim, scenario, groups[ACTIVE], groups[SHAFT], [groups[VESSEL + i] for i in range(len(vessels))],
                 vessel_sizes, sizes, ice_d, R)
    if dim == 3:
        gmsh.option.setNumber("Mesh.Algorithm3D", 1)  # Delaunay
        gmsh.option.setNumber("Mesh.Optimize", 1)
    gmsh.model.mesh.generate(dim)
