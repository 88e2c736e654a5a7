"""Verification and validation suite: ``run_validation(output_dir, fast=False, cases=None)``.

Verification compares the solvers with exact solutions (Neumann, Paterson,
steady perfused sphere), with energy conservation and with each other (finite
elements vs the fast solver). Validation compares them, under stated
assumptions, with the in vitro trends of Wolter 2017 (seed 002, PHYSICS.md
section 4) and the agar-phantom lethal ice of Littrup et al. 2009. Case data and assumptions live in ``validation/<case>/`` (TOML,
CSV) so a reviewer can change one and rerun. The report is ``report.md``
with PNG plots and ``results.json`` in the output folder.
"""

from .cases import CASES, VALIDATION, VERIFICATION, CaseResult, Row
from .report import run_validation

__all__ = ["run_validation", "CASES", "VERIFICATION", "VALIDATION", "CaseResult", "Row"]
