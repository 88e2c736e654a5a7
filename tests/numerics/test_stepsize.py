"""Unit tests of the shared step controller (cryosim.numerics.stepsize): no solver involved."""

import math

import numpy as np
import pytest

from cryosim.numerics.stepsize import (BOUNDS_MAX_CUTS, Attempt, Bounds, ConvergenceError, StepSettings, integrate,
                                       milestones_between, next_step_s, step_factor)


def test_step_factor_is_the_textbook_rule():
    assert step_factor(1.0, 2) == pytest.approx(0.9)
    assert step_factor(0.25, 2) == pytest.approx(1.8)  # 0.9 * 0.25**-0.5
    assert step_factor(1e-9, 2) == 2.0  # capped growth
    assert step_factor(1e9, 2) == 0.2  # capped shrink
    assert step_factor(0.0, 2) == 2.0
    assert step_factor(math.nan, 2) == 0.2
    assert step_factor(8.0, 3, safety=1.0, min_shrink=0.01) == pytest.approx(0.5)


def test_next_step_lands_on_milestones_without_slivers():
    assert next_step_s(1.0, 0.0, 10.0, 30.0) == (1.0, False)
    assert next_step_s(50.0, 0.0, 100.0, 30.0) == (30.0, False)  # max step
    assert next_step_s(1.0, 9.0, 10.0, 30.0) == (1.0, True)
    assert next_step_s(1.0, 8.9, 10.0, 30.0) == (pytest.approx(1.1), True)  # stretched to land
    assert next_step_s(1.0, 8.5, 10.0, 30.0) == (pytest.approx(0.75), False)  # half the rest, no sliver


def test_milestones_between():
    assert milestones_between([0.0, 5.0, 5.0, 12.0, 3.0], 10.0).tolist() == [3.0, 5.0, 10.0]


class Decay:
    """y' = -y integrated by the trapezoidal rule with an embedded Euler error estimate."""

    def __init__(self, fail_below_t=None, fail_always=False):
        self.t, self.y, self.accepted, self.restarts = 0.0, 1.0, [], 0
        self.fail_below_t, self.fail_always = fail_below_t, fail_always

    def attempt(self, t, dt):
        if self.fail_always or (self.fail_below_t is not None and dt > 0.05 and t < self.fail_below_t):
            return Attempt(False, reason="test failure")
        y_new = self.y * (1 - dt / 2) / (1 + dt / 2)
        y_low = self.y * (1 - dt)
        return Attempt(True, abs(y_new - y_low) / 1e-4, 1, payload=y_new)

    def accept(self, att, t_new):
        assert t_new > self.t
        self.y, self.t = att.payload, t_new
        self.accepted.append(t_new)

    def restart(self):
        self.restarts += 1


def test_integrate_reaches_the_end_accurately_and_lands_on_milestones():
    sys = Decay()
    seen = []
    stats = integrate(sys, 5.0, StepSettings(first_step_s=1e-3, max_step_s=1.0), breaks_s=[2.0],
                      outputs_s=[1.234, 3.0], on_accept=lambda t, out: seen.append((t, out)))
    assert sys.t == 5.0
    assert sys.y == pytest.approx(math.exp(-5.0), rel=5e-3)  # 1e-4 per step on an Euler-based estimate
    times = [t for t, _ in seen]
    for ms in (1.234, 2.0, 3.0, 5.0):
        assert ms in times  # landed on exactly
    assert [t for t, out in seen if out] == [1.234, 3.0]
    assert sys.restarts == 2  # at the break 2.0 and at the end
    assert np.all(np.diff(times) > 0)
    assert stats.steps == len(times)


def test_failed_solves_are_cut_then_recover():
    sys = Decay(fail_below_t=1.0)
    stats = integrate(sys, 2.0, StepSettings(first_step_s=0.5, max_step_s=0.5))
    assert sys.t == 2.0 and stats.rejected_solve > 0


def test_persistent_failure_raises_a_clear_error():
    with pytest.raises(ConvergenceError, match=r"failed at t = 0 s: \d+ tries in a row"):
        integrate(Decay(fail_always=True), 1.0, StepSettings(first_step_s=0.1))


def test_fixed_step_failure_names_the_step_tried():
    with pytest.raises(ConvergenceError, match="fixed step 0.5 s"):
        integrate(Decay(fail_always=True), 1.0, StepSettings(first_step_s=0.1, fixed_step_s=0.5))


def test_fixed_steps_are_fixed():
    sys = Decay()
    stats = integrate(sys, 1.0, StepSettings(fixed_step_s=0.1))
    assert stats.steps == 10
    assert np.allclose(np.diff([0.0] + sys.accepted), 0.1)


def test_work_is_bounded():
    with pytest.raises(ConvergenceError, match="more than 50 steps"):
        integrate(Decay(), 100.0, StepSettings(max_step_s=0.1, max_steps=50))


class Cooler:
    """A power-limited cooler y' = -P ramp(y - floor) stepped explicitly (forward Euler, zero error estimate):
    a long step overshoots the floor by up to P dt -- a time-discretisation error, as the explicit part of an
    SDIRK2 stage. ``artefact_K`` adds an overshoot no step size removes (a spatial artefact)."""

    FLOOR = -100.0

    def __init__(self, power_K_per_s=50.0, artefact_K=0.0):
        self.y, self.P, self.artefact_K, self.accepted = 20.0, power_K_per_s, artefact_K, []

    def attempt(self, t, dt):
        y_new = self.y - dt * self.P * min(1.0, max(0.0, self.y - self.FLOOR))
        return Attempt(True, 0.0, 1, payload=y_new)

    def excursion_K(self, att):
        return self.FLOOR - att.payload + (self.artefact_K if att.payload < self.FLOOR + 1.0 else 0.0)

    def accept(self, att, t_new):
        self.y = att.payload
        self.accepted.append(self.y)

    def restart(self):
        pass


def test_a_step_beyond_the_bounds_is_retried_shorter():
    settings = StepSettings(first_step_s=0.1, max_step_s=1.0)
    free = Cooler()
    integrate(free, 20.0, settings)
    assert min(free.accepted) < Cooler.FLOOR - 0.5  # without bounds the long steps overshoot the floor
    sys = Cooler()
    stats = integrate(sys, 20.0, settings, bounds=Bounds(sys.excursion_K, 0.5))
    assert min(sys.accepted) >= Cooler.FLOOR - 0.5
    assert stats.rejected_bounds > 0 and stats.bounds_kept == 0
    assert stats.as_dict()["rejected_bounds"] == stats.rejected_bounds
    assert stats.rejected_error == 0  # counted apart from the error rejections


class Artefact(Cooler):
    """An excursion that does not depend on the step: constant (``rate_K_per_s`` 0) or growing with time."""

    def __init__(self, artefact_K, rate_K_per_s=0.0):
        super().__init__(power_K_per_s=0.1)
        self.artefact_K, self.rate_K_per_s, self.t = artefact_K, rate_K_per_s, 0.0

    def attempt(self, t, dt):
        att = super().attempt(t, dt)
        att.payload = (att.payload, t + dt)
        return att

    def excursion_K(self, att):
        return self.artefact_K + self.rate_K_per_s * att.payload[1]

    def accept(self, att, t_new):
        self.y, self.t = att.payload
        self.accepted.append(self.y)


def test_a_breach_a_shorter_step_does_not_remove_is_kept_for_the_guard():
    sys = Artefact(2.0)  # a 2 K overshoot whatever the step (a spatial artefact)
    stats = integrate(sys, 100.0, StepSettings(first_step_s=0.1, max_step_s=1.0), bounds=Bounds(sys.excursion_K, 0.5))
    # one cut shows the breach does not shrink: accepted for the guard, and no step is cut for it again
    assert sys.t == 100.0 and stats.rejected_bounds == 1 and stats.bounds_kept == 1
    drift = Artefact(0.0, 0.05)  # a breach that grows in time: each cut shrinks it, so the cuts are bounded
    stats = integrate(drift, 100.0, StepSettings(first_step_s=0.1, max_step_s=1.0),
                      bounds=Bounds(drift.excursion_K, 0.5))
    assert drift.t == 100.0 and stats.rejected_bounds <= 2 * BOUNDS_MAX_CUTS and stats.bounds_kept == 1
    fixed = Cooler()
    stats = integrate(fixed, 20.0, StepSettings(fixed_step_s=0.5), bounds=Bounds(fixed.excursion_K, 0.5))
    assert stats.rejected_bounds == 0 and stats.bounds_kept > 0  # fixed steps: left to the guard
