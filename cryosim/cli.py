"""Command line: ``cryosim run [scenario.toml]`` and ``cryosim validate``."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .checks import ScenarioError
from .numerics.stepsize import ConvergenceError

__all__ = ["main"]


class _Progress:
    """A one-line progress bar on stderr (only for runs longer than a second)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, t_s: float, t_end_s: float) -> None:
        if not self.enabled or time.perf_counter() - self.t0 < 1.0:
            return
        frac = min(t_s / t_end_s, 1.0)
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\r  [{bar:<30}] {t_s:7.1f} / {t_end_s:g} s")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _run(args: argparse.Namespace) -> int:
    from .scenario import default_scenario, load_scenario
    from .api import choose_solver, run

    # validate everything before anything is written
    scenario = default_scenario() if args.scenario is None else load_scenario(args.scenario)
    if args.solver:
        scenario = scenario.with_(solver=args.solver)
    out = Path(args.out if args.out else f"cryosim-output/{scenario.name}")
    solver = choose_solver(scenario)
    print(f"cryosim: scenario '{scenario.name}' on the {solver} solver; "
          f"{scenario.protocol.duration_s:g} s of protocol")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    progress = _Progress(sys.stderr.isatty() and not args.quiet)
    try:
        results = run(scenario, output_dir=partial, progress=progress)
    finally:
        progress.close()
    results.save(partial)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    print(results.table())
    print(f"\nwrote {out}/: results.json, timeseries.csv, field.npz, extent_vs_time.png, isotherm_map.png")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .validation import run_validation

    report = run_validation(Path(args.out), fast=args.fast)
    print(f"validation report: {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryosim", description="Ice-ball growth around cryoprobes.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a scenario (the built-in default if no file is given)")
    p_run.add_argument("scenario", nargs="?", help="scenario TOML file")
    p_run.add_argument("--out", help="output folder (default cryosim-output/<scenario name>)")
    p_run.add_argument("--solver", choices=("auto", "fast", "fem"), help="override the scenario's solver")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar")
    p_val = sub.add_parser("validate", help="run the verification and validation cases and write the report")
    p_val.add_argument("--out", default="cryosim-output/validation", help="report folder")
    p_val.add_argument("--fast", action="store_true", help="coarse variants (what the tests run)")
    args = parser.parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _validate(args)
    except ScenarioError as e:
        print(f"cryosim: invalid scenario: {e}", file=sys.stderr)
        return 2
    except ConvergenceError as e:
        print(f"cryosim: the solver did not converge: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ncryosim: interrupted; the time series computed so far is in the .partial folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
