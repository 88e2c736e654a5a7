"""Command line: ``cryosim run [scenario.toml]`` and ``cryosim validate``."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
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


#: Where results go without --out: one subfolder per scenario (named by its slug).
DEFAULT_OUTPUT_ROOT = "cryosim-output"

#: Exit statuses.
EXIT_OK, EXIT_INVALID, EXIT_NOT_CONVERGED, EXIT_WRITE_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


class _RunState:
    """What the current run has created, for the interruption message."""

    partial: Path | None = None
    sigint_received: bool = False


_STATE = _RunState()


def _run(args: argparse.Namespace) -> int:
    from .scenario import default_scenario, load_scenario
    from .api import choose_solver, run
    from .post.files import choose_result_folder, make_partial, mark_result, publish, slug

    # validate everything (scenario and output location) before anything is written
    scenario = default_scenario() if args.scenario is None else load_scenario(args.scenario)
    if args.solver:
        scenario = scenario.with_(solver=args.solver)
    label = slug(scenario.name)
    if args.out:
        final = choose_result_folder(Path(args.out), label, overwrite=args.overwrite, inside=False)
    else:
        final = choose_result_folder(Path(DEFAULT_OUTPUT_ROOT), label, overwrite=args.overwrite, inside=True)
    replacing = final.exists()
    solver = choose_solver(scenario)
    print(f"cryosim: scenario {scenario.name!r} on the {solver} solver; "
          f"{scenario.protocol.duration_s:g} s of protocol")
    partial = make_partial(final)
    _STATE.partial = partial
    progress = _Progress(sys.stderr.isatty() and not args.quiet)
    try:
        results = run(scenario, output_dir=partial, progress=progress)
    except ScenarioError:
        shutil.rmtree(partial, ignore_errors=True)  # refused before computing: the folder is ours and holds nothing of value
        _STATE.partial = None
        raise
    finally:
        progress.close()
    results.save(partial)
    mark_result(partial)
    try:
        publish(partial, final)
    except OSError as e:
        kept = "the earlier result there is unchanged; " if replacing else ""
        print(f"cryosim: could not move the result to {final} ({e.strerror or e}); {kept}"
              f"the new result is complete in {partial}", file=sys.stderr)
        _STATE.partial = None
        return EXIT_WRITE_FAILED
    _STATE.partial = None
    print(results.table())
    verb = "replaced" if replacing else "wrote"
    print(f"\n{verb} {final}/: results.json, timeseries.csv, field.npz, extent_vs_time.png, isotherm_map.png")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from .validation import run_validation

    report = run_validation(Path(args.out), fast=args.fast)
    print(f"validation report: {report}")
    return 0


def _probes(args: argparse.Namespace) -> int:
    """Print the catalogue of probe designs with their computed floor and capacity."""
    from .physics.catalogue import list_designs, load_probe_design
    from .physics.coolant import PSI_PA
    from .physics.device import jt_device

    head = (f"{'design':26s} {'gas':5s} {'n':>2s} {'d mm':>5s} {'L mm':>5s} {'P_s psi':>8s} {'P_e kPa':>8s} "
            f"{'m_dot g/s':>9s} {'floor °C':>8s} {'coldest °C':>10s} {'Q_max W':>8s}")
    print(head)
    for name in list_designs():
        d = load_probe_design(name)
        dev = jt_device(d, args.tissue_temperature)
        print(f"{name:26s} {d.gas:5s} {d.needles:2d} {d.outer_diameter_m * 1e3:5.2f} {d.active_length_m * 1e3:5.1f} "
              f"{d.supply_pressure_Pa / PSI_PA:8.0f} {d.exhaust_pressure_Pa / 1e3:8.1f} "
              f"{dev.mass_flow_kg_per_s * 1e3:9.4f} {dev.floor_C:8.1f} {dev.coldest_C:10.1f} {dev.max_heat_W:8.2f}")
    print(f"per needle; floor: saturation (CO2: sublimation) temperature at the exhaust; coldest: the flux law's zero; "
          f"Q_max: heat drawn with the wall at {args.tissue_temperature:g} °C. Sources: cryosim/data/probes/*.toml")
    return 0


def _interrupted(exc: BaseException) -> bool:
    """True if ``exc`` is, or was caused by, a Ctrl-C.

    The finite-element solver runs Python callbacks inside PETSc, which wraps
    a KeyboardInterrupt raised there in its own error (sometimes without
    keeping the chain): a PETSc error raised after a SIGINT counts as well.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return _STATE.sigint_received and type(exc).__module__.split(".")[0] == "petsc4py"


def _interruption_message() -> str:
    if _STATE.partial is None:
        return "cryosim: interrupted; nothing was written"
    return (f"cryosim: interrupted; the time series computed so far is kept in {_STATE.partial}/timeseries.csv "
            "(no summary, field or plots were written)")


def _on_sigint(signum: int, frame: object) -> None:
    _STATE.sigint_received = True
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt


HELP_OUT = (
    "output folder. If it does not exist it is created and holds the result. If it is an earlier "
    "cryosim result (it holds a .cryosim-result file) it is replaced only with --overwrite, else the "
    "result goes to a new sibling (DIR-2, DIR-3...). Any other existing folder is never emptied or "
    "deleted: the result goes into a new subfolder DIR/<scenario name>. A file or a symbolic link is refused. "
    "Default: cryosim-output/<scenario name>"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cryosim", description="Ice-ball growth around cryoprobes.",
        epilog="Exit status: 0 done, 2 invalid scenario or output folder refused, 3 no convergence, "
               "4 results could not be written, 130 interrupted.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run a scenario (the built-in default if no file is given)",
                           description="Run a scenario. The scenario name is only a label: the output folder "
                                       "is named from its letters, digits, '-', '_' and '.'; nothing is ever "
                                       "deleted except an earlier cryosim result replaced with --overwrite.")
    p_run.add_argument("scenario", nargs="?", help="scenario TOML file")
    p_run.add_argument("--out", help=HELP_OUT)
    p_run.add_argument("--overwrite", action="store_true",
                       help="replace an earlier cryosim result of the same folder (atomically, once the new one is complete)")
    p_run.add_argument("--solver", choices=("auto", "fast", "fem"), help="override the scenario's solver")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar")
    p_val = sub.add_parser("validate", help="run the verification and validation cases and write the report")
    p_val.add_argument("--out", default="cryosim-output/validation", help="report folder")
    p_val.add_argument("--fast", action="store_true", help="coarse variants (what the tests run)")
    p_pr = sub.add_parser("probes", help="list the probe designs (Joule–Thomson devices) with floor and capacity")
    p_pr.add_argument("--tissue-temperature", type=float, default=37.0,
                      help="wall temperature (°C) at which the maximum capacity is given (default 37)")
    args = parser.parse_args(argv)
    _STATE.partial = None
    _STATE.sigint_received = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        if args.command == "probes":
            return _probes(args)
        return _run(args) if args.command == "run" else _validate(args)
    except KeyboardInterrupt:
        print("\n" + _interruption_message(), file=sys.stderr)
        return EXIT_INTERRUPTED
    except ScenarioError as e:
        what = "refused" if type(e).__name__ == "OutputError" else "invalid scenario"
        print(f"cryosim: {what}: {e}", file=sys.stderr)
        return EXIT_INVALID
    except ConvergenceError as e:
        print(f"cryosim: the solver did not converge: {e}", file=sys.stderr)
        if _STATE.partial is not None:
            print(f"cryosim: the time series computed so far is kept in {_STATE.partial}/timeseries.csv", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    except Exception as e:
        if _interrupted(e):
            print("\n" + _interruption_message(), file=sys.stderr)
            return EXIT_INTERRUPTED
        if isinstance(e, OSError):
            print(f"cryosim: could not write the results: {e}", file=sys.stderr)
            return EXIT_WRITE_FAILED
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
