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
  ball from uncertain tissue properties, with Sobol' indices;
* :func:`cryosim.calibrate` (:func:`.calibrate.calibrate`; the module's name
  shadows it here) / ``cryosim calibrate``: fit named parameters to
  thermocouple, isotherm-size, thermistor or skin measurements, with
  intervals and identifiability warnings, resumable, on the same executors.

Modules: :mod:`.paths` (field paths), :mod:`.study` (study files),
:mod:`.point` (one point), :mod:`.store` (study folders),
:mod:`.executors` (processes, Dask), :mod:`.sweep`, :mod:`.plots`,
:mod:`.chart`, :mod:`.design`, :mod:`.uncertainty`, :mod:`.band` (the band of a
prediction over a probe design's stated ranges), :mod:`.calibrate` (with
:mod:`.calibration_data`, :mod:`.calibration_models`, :mod:`.calibration_store`,
:mod:`.calibration_outputs`).

Names are imported on first use (:pep:`562`), so the command line and the
worker processes load only the modules they need (no pandas, SALib or
scipy.optimize for ``cryosim run``).
"""

from importlib import import_module

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "BandResult": "band", "design_band": "band",
    "isotherm_chart": "chart", "write_chart": "chart",
    "DesignAnswer": "design", "DesignError": "design", "shortest_freeze": "design", "smallest_probe": "design",
    "warmest_tip": "design",
    "apply_path": "paths", "plain_scenario": "paths", "scenario_at": "paths",
    "Study": "study", "load_study": "study", "study_from_dict": "study",
    "sweep": "sweep",
    "CalibrationError": "calibrate", "CalibrationResult": "calibrate", "Parameter": "calibrate",
    "load_calibration_study": "calibrate", "run_calibration_study": "calibrate",
    "Dataset": "calibration_data", "dataset_from_frame": "calibration_data", "read_dataset": "calibration_data",
    "SkinModel": "calibration_models",
    "load_design_file": "calibration_outputs", "load_therapy_file": "calibration_outputs",
    "probe_from_design_file": "calibration_outputs", "scenario_with_design_file": "calibration_outputs",
    "therapy_file_body": "calibration_outputs",
    "ITIS_SPREADS": "uncertainty", "Spread": "uncertainty", "UncertaintyResult": "uncertainty",
    "propagate": "uncertainty",
}

__all__ = [
    "CalibrationError",
    "CalibrationResult",
    "Dataset",
    "Parameter",
    "dataset_from_frame",
    "SkinModel",
    "load_calibration_study",
    "load_design_file",
    "load_therapy_file",
    "probe_from_design_file",
    "read_dataset",
    "run_calibration_study",
    "scenario_with_design_file",
    "therapy_file_body",
    "BandResult",
    "ITIS_SPREADS",
    "DesignAnswer",
    "DesignError",
    "Spread",
    "Study",
    "UncertaintyResult",
    "apply_path",
    "design_band",
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


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        # kept as the package's attribute: importing submodule ``sweep`` set that name to the module, and
        # ``from cryosim.studies import sweep`` would get the module, not the function
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
