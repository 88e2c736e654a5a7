"""Design studies at scale (issue 9).

* :func:`sweep` / ``cryosim sweep study.toml``: a grid, list or Latin
  hypercube over any scenario field named by its path, one table row per
  point, stored point by point (lossless, resumable), on local worker
  processes or a Dask cluster;
* :func:`isotherm_chart` / ``cryosim chart``: a probe's 0 / -20 / -40 °C
  width and length against freeze time;
* :func:`shortest_freeze`, :func:`smallest_probe`, :func:`warmest_tip` /
  ``cryosim design``: the least treatment that brings a nerve below a temperature;
* :func:`propagate` / ``cryosim uncertainty``: a confidence band on the ice
  ball from uncertain tissue properties, with Sobol' indices.

Modules: :mod:`.paths` (field paths), :mod:`.study` (study files),
:mod:`.point` (one point), :mod:`.store` (study folders),
:mod:`.executors` (processes, Dask), :mod:`.sweep`, :mod:`.plots`,
:mod:`.chart`, :mod:`.design`, :mod:`.uncertainty`.
"""

from .chart import isotherm_chart, write_chart
from .design import DesignAnswer, DesignError, shortest_freeze, smallest_probe, warmest_tip
from .paths import apply_path, plain_scenario, scenario_at
from .study import Study, load_study, study_from_dict
from .sweep import sweep
from .uncertainty import ITIS_SPREADS, Spread, UncertaintyResult, propagate

__all__ = [
    "ITIS_SPREADS",
    "DesignAnswer",
    "DesignError",
    "Spread",
    "Study",
    "UncertaintyResult",
    "apply_path",
    "isotherm_chart",
    "load_study",
    "plain_scenario",
    "propagate",
    "scenario_at",
    "shortest_freeze",
    "smallest_probe",
    "study_from_dict",
    "sweep",
    "warmest_tip",
    "write_chart",
]
