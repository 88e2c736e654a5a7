"""cryosim: ice-ball growth around cryoneurolysis probes.

Pennes bioheat with phase change, in enthalpy form, solved by a fast
finite-volume solver (1D radial and 2D axisymmetric, numba) and by finite
elements on DOLFINx (axisymmetric and 3D, with bone, vessels and several
probes). SI units throughout; temperatures in °C.

Five lines from scenario to figures::

    import cryosim
    scenario = cryosim.default_scenario()
    results = cryosim.run(scenario)
    print(results.table())
    results.save("out")
"""

from .checks import ScenarioError
from .physics.materials import Material, citations, get_material, material_names
from .physics.probe import COOLANTS, ISO_9626_OUTER_DIAMETER_MM, Probe
from .physics.protocol import Freeze, Protocol, Thaw
from .post.results import Results
from .scenario import Numerics, Scenario, Thermocouple, default_scenario, load_scenario
from .api import run

__version__ = "0.1.0"

__all__ = [
    "calibrate", "ScenarioError", "Material", "citations", "get_material", "material_names", "COOLANTS",
    "ISO_9626_OUTER_DIAMETER_MM", "Probe", "Freeze", "Protocol", "Thaw", "Results", "Numerics",
    "Scenario", "Thermocouple", "default_scenario", "load_scenario", "run", "__version__",
]


def __getattr__(name: str) -> object:
    """``cryosim.calibrate`` (:func:`cryosim.studies.calibrate.calibrate`) is imported on first use, so
    ``cryosim run`` loads neither scipy.optimize nor the study machinery."""
    if name == "calibrate":
        from .studies.calibrate import calibrate

        return calibrate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
