"""Unit tests of the shared step controller (cryosim.numerics.stepsize): no solver involved."""

import math

import numpy as np
import pytest

from cryosim.numerics.stepsize import (Attempt, ConvergenceError, StepSettings, integrate, milestones_between,
                                       next_step_s, step_factor)


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
