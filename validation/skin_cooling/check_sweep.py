"""Check of the swept-jet approximation: time-averaged coefficient and snow flux vs a jet that really passes.

Run: .venv/bin/python validation/skin_cooling/check_sweep.py   (about 30 s)

``co2_jet(duty_cycle=d)`` replaces a jet that sweeps over a point (the full spot coefficient and snow
flux for a share d of each sweep period, room air for the rest) by its time average. Here the skin
surface under the pulsed jet (periods 1, 2.5, 5 s; duty 0.2, the default) is compared with the averaged
model at 30 s and 120 s; printed: the averaged model, and the pulsed surface's mean, min and max over
the last period.
"""

import math

from cryosim.clinical import skin as S
from cryosim.physics.boundary import BCKind, SurfaceCondition


class PulsedJet(S._SkinSurface):
    """The skin surface under a jet that passes a point once per ``period_s``, on for ``duty`` of it."""

    period_s = 2.5

    def __init__(self, therapy, t_on_s, room_air_C=S.ROOM_AIR_C, room_h_W_per_m2_K=S.ROOM_H_W_PER_M2_K):
        super().__init__(therapy, t_on_s, room_air_C, room_h_W_per_m2_K)
        self.duty = S.CO2_JET_DUTY_CYCLE
        self._spot = SurfaceCondition(BCKind.CONVECTIVE, therapy.equivalent_coolant_C,
                                      therapy.heat_transfer_W_per_m2_K / self.duty)

    def at(self, t_s):
        if not (self.t_on_s <= t_s < self.t_on_s + self.therapy.duration_s):
            return self._room
        return self._spot if ((t_s - self.t_on_s) / self.period_s) % 1.0 < self.duty else self._room

    def breakpoints_s(self):
        if not math.isfinite(self.t_on_s):
            return []
        end = self.t_on_s + self.therapy.duration_s
        out, k = {self.t_on_s, end}, 0
        while k * self.period_s < self.therapy.duration_s:
            out |= {self.t_on_s + k * self.period_s, self.t_on_s + (k + self.duty) * self.period_s}
            k += 1
        return sorted(x for x in out if x <= end)


def pulsed(duration_s: float, period_s: float, **kw) -> S.SkinResult:
    PulsedJet.period_s = period_s
    orig, S._SkinSurface = S._SkinSurface, PulsedJet
    try:
        return S.simulate(S.co2_jet(duration_s), after_s=0.0, max_step_s=0.1, **kw)
    finally:
        S._SkinSurface = orig


if __name__ == "__main__":
    avg = S.simulate(S.co2_jet(120.0), after_s=0.0, max_step_s=0.1)
    for P in (1.0, 2.5, 5.0):
        r = pulsed(120.0, P)
        for t in (30.0, 120.0):
            m = (r.time_s > t - P) & (r.time_s <= t)
            print(f"period {P:g} s, t {t:g} s: averaged model {avg.surface_at_C(t):.1f} °C; pulsed mean "
                  f"{r.surface_C[m].mean():.1f}, min {r.surface_C[m].min():.1f}, max {r.surface_C[m].max():.1f} °C")
