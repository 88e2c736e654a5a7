"""cryosim.api.choose_solver: the fast solver only for a flat tip in an empty, axisymmetric scene."""

from dataclasses import replace

import pytest

import cryosim
from cryosim.api import choose_solver
from cryosim.checks import ScenarioError
from cryosim.physics.scene import BonePlate, ProbePlacement, Vessel


@pytest.fixture
def base():
    return cryosim.default_scenario()


def test_flat_tip_without_scene_is_fast(base):
    assert base.probe.tip_shape == "flat" and not base.has_scene and base.solver == "auto"
    assert choose_solver(base) == "fast"


@pytest.mark.parametrize("shape", ["rounded", "sharp"])
def test_non_flat_tip_needs_fem(base, shape):
    assert choose_solver(base.with_(probe=replace(base.probe, tip_shape=shape))) == "fem"


@pytest.mark.parametrize("scene", [
    {"bone": BonePlate(3e-3, 45.0)},
    {"bone": BonePlate(3e-3, 90.0)},  # axisymmetric, but the fast solver has one medium
    {"vessels": (Vessel(1.5e-3, 3.5e-3),)},
    {"extra_probes": (ProbePlacement((5e-3, 0.0, 0.0)),)},
])
def test_scene_objects_need_fem(base, scene):
    s = base.with_(**scene)
    assert s.has_scene
    assert choose_solver(s) == "fem"


@pytest.mark.parametrize("solver", ["fast", "fem"])
def test_explicit_solver_is_honoured(base, solver):
    assert choose_solver(base.with_(solver=solver)) == solver
    assert choose_solver(base.with_(solver=solver, resolution=2.0)) == solver
    if solver == "fem":
        rounded = base.with_(probe=replace(base.probe, tip_shape="rounded"), solver=solver)
        assert choose_solver(rounded) == solver
        assert choose_solver(base.with_(bone=BonePlate(3e-3, 45.0), solver=solver)) == solver


@pytest.mark.parametrize("scene", [
    {"bone": BonePlate(3e-3, 45.0)},
    {"bone": BonePlate(3e-3, 90.0)},
    {"vessels": (Vessel(1.5e-3, 3.5e-3),)},
    {"extra_probes": (ProbePlacement((5e-3, 0.0, 0.0)),)},
])
def test_fast_solver_refuses_what_it_cannot_represent(base, scene):
    """A scene object the fast solver would leave out is refused, naming the solver key and the object."""
    s = base.with_(solver="fast", **scene)
    with pytest.raises(ScenarioError, match=f"numerics.solver.*{next(iter(scene))}"):
        choose_solver(s)
    with pytest.raises(ScenarioError, match="numerics.solver"):
        cryosim.run(s)
    with pytest.raises(ScenarioError, match="flat end"):
        choose_solver(base.with_(solver="fast", probe=replace(base.probe, tip_shape="rounded")))
