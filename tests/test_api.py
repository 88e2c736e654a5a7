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


@pytest.mark.integration
@pytest.mark.parametrize("solver", ["fast", "fem"])
def test_a_wall_clock_limit_stops_either_solver_with_the_key_named(solver):
    """numerics.max_wall_s bounds the time stepping of both solvers (issue 16: an FE run went on for 30 minutes
    past its caller's alarm): the run stops with an error naming the key, nothing is returned."""
    from cryosim.numerics.stepsize import ConvergenceError
    from cryosim.physics.protocol import Protocol

    if solver == "fem":
        import importlib

        try:
            importlib.import_module("cryosim.fem")
        except ImportError:
            pytest.skip("finite-element stack not installed")
    s = cryosim.default_scenario().with_(protocol=Protocol.single_freeze(600.0, -70.0), solver=solver,
                                         max_wall_s=1.0, max_step_s=0.5)
    with pytest.raises(ConvergenceError, match=r"numerics.max_wall_s = 1 s reached (at t = |in a Newton iteration|after the meshing)"):
        cryosim.run(s)
    with pytest.raises(ScenarioError, match="numerics.max_wall_s"):
        s.with_(max_wall_s=0.0)
