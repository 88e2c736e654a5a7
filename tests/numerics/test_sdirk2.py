"""The shared SDIRK2 step (cryosim.numerics.sdirk2) and the shared Newton driver (cryosim.numerics.newton),
each on a tiny problem with a known solution (quick: well under a second)."""

import math

import numpy as np
import pytest

from cryosim.numerics.newton import FactorState, solve_stage, solve_stage_with_retry
from cryosim.numerics.sdirk2 import EMBEDDED_C, SDIRK_GAMMA, STAGE2_C, error_ratio, sdirk2_step

# dH/dt = A H + f(t) with H = T: y1' = -y1 + cos t, y2' = -3 y2
A = np.diag([-1.0, -3.0])
Y0 = np.array([2.0, 1.0])


def f(t: float) -> np.ndarray:
    return np.array([math.cos(t), 0.0])


def exact(t: float) -> np.ndarray:
    return np.array([(math.cos(t) + math.sin(t)) / 2 + (Y0[0] - 0.5) * math.exp(-t), Y0[1] * math.exp(-3 * t)])


class LinearODE:
    """An :class:`~cryosim.numerics.sdirk2.SDIRK2System` whose stages are linear solves."""

    enthalpy_rtol = 1e300  # only the temperature measure counts (the error ratio is then max|H_2 - H_low|)
    temperature_tolerance_K = 1.0

    def __init__(self, A: np.ndarray = A, f=f, H0: np.ndarray = Y0, fail_stage: int = 0, guard: float = 0.0):
        self.A, self.f, self.H = A, f, H0.copy()
        self.H0 = H0.copy()
        self.fail_stage, self.guard = fail_stage, guard
        self.guesses: list = []
        self.stage_times: list = []

    def committed_temperature(self):
        return self.H

    def set_stage(self, stage, t_s, gamma_dt_s):
        self.stage, self.t_s, self.gdt = stage, t_s, gamma_dt_s
        self.stage_times.append(t_s)
        if stage == 1:
            self.Hstar = self.H
        else:
            self.H1 = self.Hs
            self.Hstar = self.H + STAGE2_C * (self.H1 - self.H)

    def solve_stage(self, guess_T):
        self.guesses.append(guess_T)
        if self.stage == self.fail_stage:
            return False, 3, "no descent"
        M = np.eye(self.H.size) - self.gdt * self.A
        self.Hs = np.linalg.solve(M, self.Hstar + self.gdt * self.f(self.t_s))
        return True, 1, ""

    def stage_rates(self):
        r = self.A @ self.Hs + self.f(self.t_s)
        return r, tuple(r)

    def embedded(self, c):
        return self.H + c * (self.H1 - self.H)

    def stage2_guess(self, low, dt_s):
        return low

    def error_measures(self, low):
        d = self.Hs - low
        return float(d.sum()), float((self.Hs - self.H0).sum()), float((self.H - self.H0).sum()), float(np.abs(d).max())

    def guard_ratio(self, t_s, dt_s):
        return self.guard

    def stage_state(self):
        return self.Hs.copy()


def integrate_fixed(n: int, t_end: float = 1.0) -> tuple[np.ndarray, list[float]]:
    s, dt, slope, errs = LinearODE(), t_end / n, None, []
    for i in range(n):
        att = sdirk2_step(s, i * dt, dt, slope)
        assert att.ok
        H_new = att.payload[0]
        slope = (H_new - s.H) / dt
        s.H = H_new
        errs.append(att.error_ratio)
    return s.H, errs


def test_sdirk2_step_is_second_order():
    errors = [float(np.abs(integrate_fixed(n)[0] - exact(1.0)).max()) for n in (10, 20, 40)]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(1.9 < r < 2.2 for r in rates), (errors, rates)


def test_embedded_error_estimate_is_of_order_dt_squared_and_tracks_the_local_error():
    ests, local = [], []
    for dt in (0.02, 0.01, 0.005):
        s = LinearODE()
        att = sdirk2_step(s, 0.0, dt)
        ests.append(att.error_ratio)  # max |H_2 - H_low| (temperature measure, tolerance 1 K)
        local.append(float(np.abs(att.payload[0] - exact(dt)).max()))
    est_rates = [math.log2(ests[i] / ests[i + 1]) for i in range(2)]
    loc_rates = [math.log2(local[i] / local[i + 1]) for i in range(2)]
    assert all(1.9 < r < 2.1 for r in est_rates), (ests, est_rates)  # the first-order solution's error, O(dt^2)
    assert all(2.8 < r < 3.2 for r in loc_rates), (local, loc_rates)  # the step's own local error, O(dt^3)
    assert all(e > l for e, l in zip(ests, local))  # the estimate bounds the local error (conservative)


def test_stage_times_guesses_and_embedded_solution():
    s, dt = LinearODE(), 0.2
    slope = np.array([1.0, -2.0])
    att = sdirk2_step(s, 1.0, dt, slope)
    g = SDIRK_GAMMA
    assert s.stage_times == [pytest.approx(1.0 + g * dt, rel=0, abs=1e-15), 1.0 + dt]
    np.testing.assert_allclose(s.guesses[0], Y0 + g * dt * slope, rtol=0, atol=1e-15)
    # stage 2 starts from the embedded first-order solution H^n + (H_1 - H^n)/gamma = H^n + dt S_1
    S1 = (s.H1 - Y0) / (g * dt)
    np.testing.assert_allclose(s.guesses[1], Y0 + dt * S1, rtol=1e-14)
    assert EMBEDDED_C == pytest.approx(1.0 / g, rel=1e-15)
    # after a restart (no slope) stage 1 starts from the committed state
    s2 = LinearODE()
    sdirk2_step(s2, 0.0, dt)
    assert s2.guesses[0] is None
    assert att.iterations == 2


def test_heat_terms_close_the_balance_of_the_update():
    """The rates integrated with the weights (1 - gamma) dt and gamma dt are the enthalpy update (stiffly accurate)."""
    s, dt = LinearODE(), 0.3
    att = sdirk2_step(s, 0.5, dt)
    H2, heat, rates2, dt_out = att.payload
    np.testing.assert_allclose(np.array(heat), H2 - Y0, rtol=1e-13, atol=1e-15)
    assert dt_out == dt
    np.testing.assert_array_equal(rates2, A @ H2 + f(0.5 + dt))


def test_l_stable_one_long_step_on_a_stiff_mode():
    s = LinearODE(A=np.diag([-1e8]), f=lambda t: np.zeros(1), H0=np.array([1.0]))
    att = sdirk2_step(s, 0.0, 1.0)
    assert abs(att.payload[0][0]) < 1e-7  # R(z) -> 0 as z -> -inf


def test_failures_and_guards_are_reported():
    att = sdirk2_step(LinearODE(fail_stage=1), 0.0, 0.1)
    assert not att.ok and att.iterations == 3 and att.reason.startswith("stage 1: no descent")
    att = sdirk2_step(LinearODE(fail_stage=2), 0.0, 0.1)
    assert not att.ok and att.iterations == 4 and att.reason.startswith("stage 2: no descent")
    ok = sdirk2_step(LinearODE(), 0.0, 0.1)
    guarded = sdirk2_step(LinearODE(guard=4.0), 0.0, 0.1)
    assert ok.error_ratio < 4.0 and guarded.error_ratio == 4.0


def test_error_ratio_is_the_larger_of_the_two_measures():
    assert error_ratio(1.0, 100.0, 50.0, 0.0, 0.01, 1.0) == pytest.approx(1.0)
    assert error_ratio(-1.0, 10.0, -200.0, 0.0, 0.01, 1.0) == pytest.approx(0.5)  # |dE| / max(|changes|)
    assert error_ratio(0.0, 0.0, 0.0, 3.0, 0.01, 1.5) == pytest.approx(2.0)
    assert error_ratio(1e-320, 0.0, 0.0, 0.0, 1.0, 1.0) > 0.0  # no division by zero at t = 0


# --- cryosim.numerics.newton --------------------------------------------------------------------------------
class Scalar:
    """A :class:`~cryosim.numerics.newton.StageProblem` for one scalar equation r(x) = 0."""

    def __init__(self, r, dr, x0: float):
        self.r, self.dr, self.x = r, dr, x0
        self.factorisations = 0

    def start(self):
        self.res = self.r(self.x)
        return abs(self.res), self.res ** 2

    def factorise(self):
        self.J = self.dr(self.x)
        self.factorisations += 1

    def direction(self):
        return -self.res / self.J

    def safeguard(self, d):
        return None

    def trial(self, d, lam):
        self.x_try = self.x + lam * d
        self.res_try = self.r(self.x_try)
        return abs(self.res_try), self.res_try ** 2

    def accept(self):
        self.x, self.res = self.x_try, self.res_try


@pytest.mark.parametrize("refactor", ["exact", "stage", "lagged"])
def test_solve_stage_finds_the_root_of_a_cubic(refactor):
    p = Scalar(lambda x: x ** 3 + x - 10.0, lambda x: 3 * x ** 2 + 1.0, 5.0)  # root x = 2
    ok, its, why = solve_stage(p, FactorState(), refactor, 1e-12, 50)
    assert ok and why == "" and 0 < its < 50
    assert p.x == pytest.approx(2.0, rel=1e-12)
    if refactor == "exact":
        assert p.factorisations == its


def test_solve_stage_line_search_tames_newtons_divergence_on_arctan():
    # plain Newton from x0 = 3 diverges on arctan(x) = 0; the line search never accepts a larger residual
    p = Scalar(math.atan, lambda x: 1.0 / (1.0 + x * x), 3.0)
    ok, its, _ = solve_stage(p, FactorState(), "exact", 1e-12, 50)
    assert ok and abs(p.x) < 1e-12


def test_solve_stage_reports_no_descent_and_non_finite_starts():
    p = Scalar(lambda x: x * x + 1.0, lambda x: -2.0 * x, 1.0)  # a Jacobian of the wrong sign: uphill only
    ok, its, why = solve_stage(p, FactorState(), "exact", 1e-12, 20)
    assert not ok and its == 1 and why.startswith("no descent") and p.x == 1.0
    p = Scalar(lambda x: float("nan"), lambda x: 1.0, 0.0)
    assert solve_stage(p, FactorState(), "exact", 1e-12, 20) == (False, 0, "non-finite residual at the initial guess")


def test_solve_stage_with_retry_falls_back_to_exact_newton():
    counters = {"exact_retries": 0}
    made = []

    def make():
        made.append(Scalar(lambda x: x ** 3 + x - 10.0, lambda x: 3 * x ** 2 + 1.0, 5.0))
        return made[-1]

    ok, its, why, p = solve_stage_with_retry(make, FactorState(), "lagged", 1e-12, 2, counters)
    # two lagged iterations do not converge from x = 5; exact Newton from the same guess is tried once more
    assert len(made) == 2 and counters["exact_retries"] == 1 and p is made[1]
