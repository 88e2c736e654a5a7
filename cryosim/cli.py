"""Command line: ``cryosim run [scenario.toml]``, ``cryosim validate``, and the design studies
(``cryosim sweep``, ``chart``, ``design``, ``uncertainty``, ``calibrate``: :mod:`cryosim.studies`)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from .checks import ScenarioError, check_range
from .numerics.stepsize import ConvergenceError
from .post.guards import PhysicalGuardError

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
#: A physical guard stopped the run: a computed state broke a bound the physics sets (cryosim.post.guards).
EXIT_GUARD = 5
#: A study finished but some of its points failed (each failed row says why).
EXIT_POINTS_FAILED = 6


class _RunState:
    """What the current run has created, for the interruption message."""

    partial: Path | None = None
    sigint_received: bool = False


_STATE = _RunState()


#: Environment variables in which MPI launchers (MPICH / Intel MPI's hydra, Open MPI, PMIx) give the number of ranks.
_MPI_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def _mpi_comm() -> "object | None":
    """MPI.COMM_WORLD when this process is one of several ranks of ``mpirun -n N`` (N > 1), else None (mpi4py is
    not even imported for a plain run)."""
    if not any(os.environ.get(v, "1") not in ("", "0", "1") for v in _MPI_SIZE_VARIABLES):
        return None
    try:
        import dolfinx_solver  # noqa: F401  (wheel install: must precede dolfinx / petsc4py / mpi4py)
    except ImportError:
        pass
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None


def _run(args: argparse.Namespace) -> int:
    from .scenario import default_scenario, load_scenario
    from .api import choose_solver, run
    from .post.files import choose_result_folder, make_partial, mark_result, publish, slug

    # under `mpirun -n N` every rank runs the scenario (the FE solver shares the mesh among them) and rank 0
    # alone chooses the folder, writes, publishes and prints
    comm = _mpi_comm()
    rank = 0 if comm is None else comm.rank
    # validate everything (scenario and output location) before anything is written
    scenario = default_scenario() if args.scenario is None else load_scenario(args.scenario)
    if args.solver:
        scenario = scenario.with_(solver=args.solver)
    label = slug(scenario.name)
    solver = choose_solver(scenario)
    if rank == 0:
        if args.out:
            final = choose_result_folder(Path(args.out), label, overwrite=args.overwrite, inside=False)
        else:
            final = choose_result_folder(Path(DEFAULT_OUTPUT_ROOT), label, overwrite=args.overwrite, inside=True)
        replacing = final.exists()
        ranks = "" if comm is None else f" on {comm.size} MPI ranks" + (
            "" if solver == "fem" else " (the fast solver runs whole on each: use one process)")
        print(f"cryosim: scenario {scenario.name!r} on the {solver} solver{ranks}; "
              f"{scenario.protocol.duration_s:g} s of protocol")
        partial = make_partial(final)
    else:
        partial = None
    if comm is not None:
        partial = comm.bcast(partial, root=0)
    _STATE.partial = partial if rank == 0 else None
    progress = _Progress(rank == 0 and sys.stderr.isatty() and not args.quiet)
    try:
        results = run(scenario, output_dir=partial, progress=progress)
    except (ScenarioError, PhysicalGuardError):
        # refused before computing, or stopped by a guard (a state the physics does not allow: no result to keep);
        # the folder is ours and holds nothing of value
        if rank == 0:
            shutil.rmtree(partial, ignore_errors=True)
        _STATE.partial = None
        raise
    finally:
        progress.close()
    if rank != 0:
        return EXIT_OK
    results.save(partial)
    mark_result(partial)
    try:
        final = publish(partial, final, overwrite=args.overwrite)
    except OSError as e:
        kept = "the earlier result there is unchanged; " if replacing else ""
        print(f"cryosim: could not move the result to {final} ({e.strerror or e}); {kept}"
              f"the new result is complete in {partial}", file=sys.stderr)
        _STATE.partial = None
        return EXIT_WRITE_FAILED
    _STATE.partial = None
    print(results.table())
    _print_cycles(results)
    verb = "replaced" if replacing else "wrote"
    print(f"\n{verb} {final}/: results.json, timeseries.csv, field.npz, field.vtu, temperature.pvd (field over "
          "time), extent_vs_time.png, isotherm_map.png")
    if not args.no_band:
        _print_band(scenario, results, final, quiet=args.quiet)
    return EXIT_OK


def _print_cycles(results: "object") -> None:
    """The per-cycle table (Results.per_cycle) when the protocol has more than one freeze."""
    df = results.per_cycle()  # type: ignore[attr-defined]
    if len(df) < 2:
        return
    edge = next(iter(results.extents))  # type: ignore[attr-defined]
    lab = f"{edge:g}C"
    print(f"\nper freeze cycle ({edge:g} °C isotherm at the end of each freeze; release: surface back above 0 °C):")
    print(f"{'cycle':>5} {'freeze end s':>12} {'width mm':>9} {'volume mm3':>11} {'added mm3':>10} {'release s':>10}")
    for _, r in df.iterrows():
        rel = "frozen in" if r["release_s"] != r["release_s"] else f"{r['release_s']:.1f}"
        print(f"{int(r['cycle']):>5} {r['freeze_end_s']:>12.0f} {1e3 * r[f'width_m@{lab}']:9.2f} "
              f"{1e9 * r[f'volume_m3@{lab}']:11.2f} {1e9 * r[f'added_volume_m3@{lab}']:10.2f} {rel:>10}")


def _print_band(scenario: "object", results: "object", final: Path, quiet: bool) -> None:
    """The band of the ice ball over the probe design's stated ranges (nothing when the design states none)."""
    from .studies.band import uncertain_design_values

    ranges, _ = uncertain_design_values(scenario)  # type: ignore[arg-type]
    if not ranges:
        return
    from .studies.band import design_band

    print(f"\ncryosim: the design states ranges for {len(ranges)} of its values; running the band "
          "(--no-band to skip) ...", flush=True)
    try:
        band = design_band(scenario, results, out=final / "band",  # type: ignore[arg-type]
                           progress=sys.stderr.isatty() and not quiet)
    except ScenarioError as e:  # the prediction stands; its band could not be had
        print(f"cryosim: no band: {e}", file=sys.stderr)
        return
    if band is not None:
        print("\n".join(band.lines()))
        print(f"band runs: {final}/band/")


def _validate(args: argparse.Namespace) -> int:
    """The report is written into a fresh working folder and published like a run's result: an earlier report
    is replaced only with --overwrite (else the report goes to a sibling), no link is followed, and an
    interrupted report leaves the earlier one as it was."""
    from .post.files import choose_result_folder, make_partial, mark_result, publish
    from .validation import CASES, run_validation

    unknown = [c for c in (args.case or []) if c not in CASES]
    if unknown:
        print(f"cryosim validate: unknown validation case(s) {unknown}; known: {list(CASES)}", file=sys.stderr)
        return EXIT_INVALID
    out = Path(args.out)
    final = choose_result_folder(out, "validation", overwrite=args.overwrite, inside=False)
    partial = make_partial(final)
    _STATE.partial = partial
    def said(cid: str, k: int, n: int, wall_s: float | None) -> None:
        if wall_s is None:
            print(f"cryosim validate: [{k + 1}/{n}] {cid} ...", flush=True)
        else:
            print(f"cryosim validate: [{k + 1}/{n}] {cid} done in {wall_s:.0f} s", flush=True)

    run_validation(partial, fast=args.fast, cases=args.case, progress=None if args.quiet else said)
    mark_result(partial)
    final = publish(partial, final, overwrite=args.overwrite)
    _STATE.partial = None
    print(f"validation report: {final / 'report.md'}")
    return EXIT_OK


def _probes(args: argparse.Namespace) -> int:
    """Print the catalogue of probe designs with their computed floor and capacity."""
    from .physics.catalogue import list_designs, load_probe_design
    from .physics.device import jt_device

    check_range("--tissue-temperature", args.tissue_temperature, 0.0, 45.0, unit="°C")  # as a scenario's
    head = (f"{'design':26s} {'gas':5s} {'n':>2s} {'d mm':>5s} {'L mm':>5s} {'P_s MPa':>8s} {'P_e kPa':>8s} "
            f"{'m_dot g/s':>9s} {'floor °C':>8s} {'coldest °C':>10s} {'Q_max W':>8s}")
    print(head)
    for name in list_designs():
        d = load_probe_design(name)
        dev = jt_device(d, args.tissue_temperature)
        print(f"{name:26s} {d.gas:5s} {d.needles:2d} {d.outer_diameter_m * 1e3:5.2f} {d.active_length_m * 1e3:5.1f} "
              f"{d.supply_pressure_Pa / 1e6:8.2f} {d.exhaust_pressure_Pa / 1e3:8.1f} "
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


def _sweep(args: argparse.Namespace) -> int:
    from .post.files import slug
    from .studies.executors import check_workers
    from .studies.store import open_study_folder
    from .studies.study import load_study
    from .studies.sweep import InvalidPointsError, run_study

    study = load_study(args.study)
    if args.scheduler is None:
        check_workers(args.workers)  # before the folder is created
    out = Path(args.out) if args.out else Path(DEFAULT_OUTPUT_ROOT) / slug(study.name)
    folder = open_study_folder(out, study)
    done = len(folder.finished())
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{args.workers} local worker processes"
    resumed = f"; resuming: {done} stored" if done else ""
    print(f"cryosim: study {study.name!r}: {len(folder.points)} points on {where}{resumed}; results in {out}/")
    try:
        df = run_study(folder, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet and sys.stderr.isatty(), plots=True, retry_errors=args.retry_errors,
                       invalid="record" if args.skip_invalid else "refuse")
    except InvalidPointsError as e:
        print(f"cryosim: {e}\ncryosim: fix the study, or --skip-invalid runs the others and records these as failed",
              file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print(f"\ncryosim: interrupted; {len(folder.finished())} of {len(folder.points)} points are stored in "
              f"{out}/points/; the same command resumes the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = df[df["status"] != "ok"]
    print(f"{len(df) - len(failed)} points ok, {len(failed)} failed; CPU {df['cpu_s'].sum():.1f} s in all")
    print(f"wrote {out}/: results.parquet, results.csv, plots/, points/, study.toml, study.json")
    if len(failed):
        # not a success: say which points and why (grouped by message), and exit non-zero
        print(f"cryosim: {len(failed)} of {len(df)} points failed (their rows in results.csv say why; "
              "--retry-errors computes them again):", file=sys.stderr)
        for error, g in failed.groupby("error", sort=False):
            shown = ", ".join(str(i) for i in g["index"].head(8)) + (", ..." if len(g) > 8 else "")
            print(f"  {len(g)} point(s) [{shown}]: {error}", file=sys.stderr)
        return EXIT_POINTS_FAILED
    return EXIT_OK


def _scenario_arg(args: argparse.Namespace):
    from .scenario import default_scenario, load_scenario

    return default_scenario() if args.scenario is None else load_scenario(args.scenario)


def _chart(args: argparse.Namespace) -> int:
    from .post.files import choose_result_folder, make_partial, mark_result, publish, slug
    from .studies.chart import write_chart

    scenario = _scenario_arg(args)
    root = Path(args.out) if args.out else Path(DEFAULT_OUTPUT_ROOT)
    final = choose_result_folder(root, slug(scenario.name) + "-chart", overwrite=args.overwrite, inside=not args.out)
    partial = make_partial(final)
    _STATE.partial = partial
    try:
        chart, _ = write_chart(scenario, partial, args.duration_s, args.step_s)
    except ScenarioError:
        shutil.rmtree(partial, ignore_errors=True)  # refused before computing: the folder is ours and empty
        _STATE.partial = None
        raise
    mark_result(partial)
    final = publish(partial, final, overwrite=args.overwrite)
    _STATE.partial = None
    shown = chart.copy()
    shown.iloc[:, 1:] *= 1e3
    print(shown.rename(columns=lambda c: c.replace("_m@", " mm @")).to_string(index=False, float_format="%.2f"))
    print(f"\nwrote {final}/: chart.csv (SI units), chart.png")
    return EXIT_OK


def _design(args: argparse.Namespace) -> int:
    from .studies.design import shortest_freeze, smallest_probe, warmest_tip

    scenario = _scenario_arg(args)
    find = {"duration": shortest_freeze, "gauge": smallest_probe, "tip-temperature": warmest_tip}[args.find]
    check_range("--threshold-C", args.threshold_C, -150.0, 37.0, unit="°C")
    check_range("--nerve-distance-m", args.nerve_distance_m, 0.0, 0.5, unit="m")
    answer = find(scenario, args.nerve_distance_m, args.threshold_C)
    print(answer)
    return EXIT_OK


def _uncertainty(args: argparse.Namespace) -> int:
    from .post.files import slug
    from .studies.uncertainty import ITIS_SPREADS, Spread, propagate

    scenario = _scenario_arg(args)
    spreads = ITIS_SPREADS
    if args.spread:
        spreads = []
        for text in args.spread:
            field, _, rest = text.partition("=")
            dist, _, rel = rest.partition(":")
            try:
                relative = float(rel)
            except ValueError:
                raise ScenarioError("--spread", text, "FIELD=uniform:REL or FIELD=normal:REL, e.g. "
                                    "perfusion_per_s=uniform:0.5") from None
            spreads.append(Spread(field, dist, relative, "given on the command line"))
    out = Path(args.out) if args.out else Path(DEFAULT_OUTPUT_ROOT) / (slug(scenario.name) + "-uncertainty")
    n = args.samples * (len(spreads) + 2)
    print(f"cryosim: {n} runs of {scenario.name!r} (Saltelli samples, {args.samples} base samples); results in {out}/")
    for s in spreads:
        print(f"  {s.field}: {s.distribution} +-{100 * s.relative:g} %")
    for source in dict.fromkeys(s.source for s in spreads):
        print(f"  source: {source}")
    try:
        result = propagate(scenario, spreads, base_samples=args.samples, measure=args.measure, out=out, workers=args.workers,
                           scheduler=args.scheduler, progress=not args.quiet and sys.stderr.isatty())
    except KeyboardInterrupt:
        print(f"\ncryosim: interrupted; the finished samples are stored in {out}/samples/; the same command resumes",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    end = result.band[result.band["time_s"] == result.band["time_s"].max()]
    for _, row in end.iterrows():
        iso = row["isotherm_C"]
        most = (f"matters most: {result.most_important(iso)}" if result.ranking_is_resolved(iso) else
                f"which property matters most is not resolved by {args.samples} base samples (the largest total "
                "Sobol' indices overlap within their confidence; use more --samples)")
        print(f"{iso:>5g} °C {args.measure} at {row['time_s']:g} s: nominal {row['nominal']:.3g}, "
              f"90 % band [{row['p5']:.3g}, {row['p95']:.3g}]; {most}")
    print(f"wrote {out}/: band.csv, sobol.csv, spreads.json (with sources), uncertainty.png, samples/")
    return EXIT_OK


def _calibrate(args: argparse.Namespace) -> int:
    from .post.files import slug
    from .studies.calibrate import CalibrationError, load_calibration_study, run_calibration_study
    from .studies.calibration_store import CALIBRATION_MARKER
    from .studies.executors import check_workers

    study = load_calibration_study(args.study)
    if args.scheduler is None and not args.serial:
        check_workers(args.workers)  # before the folder is created
    out = Path(args.out) if args.out else Path(DEFAULT_OUTPUT_ROOT) / slug(study.name)
    n = sum(len(d) for d in study.datasets)
    where = (f"Dask scheduler {args.scheduler}" if args.scheduler else "this process" if args.serial
             else f"{args.workers} local worker processes")
    stored = len(list((out / "points").glob("*.json"))) if (out / CALIBRATION_MARKER).is_file() else 0
    resumed = f"; resuming: {stored} points stored" if stored else ""
    print(f"cryosim: calibration {study.name!r}: {len(study.parameters)} "
          f"parameter{'s' if len(study.parameters) > 1 else ''} "
          f"({', '.join(p.name for p in study.parameters)}) to {n} data in {len(study.datasets)} files; "
          f"{study.settings.get('starts', 1)} starts on {where}{resumed}; results in {out}/")
    show = not args.quiet and sys.stderr.isatty()

    def progress(computed: int, reused: int) -> None:
        if show:
            sys.stderr.write(f"\r  {computed} model runs computed, {reused} reused")
            sys.stderr.flush()

    try:
        result = run_calibration_study(study, out, executor="serial" if args.serial else "processes",
                                       workers=args.workers, scheduler=args.scheduler, progress=progress)
    except KeyboardInterrupt:
        done = len(list((out / "points").glob("*.json")))
        print(f"\ncryosim: interrupted; {done} evaluated points are stored in {out}/points/; the same command "
              "resumes the calibration", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CalibrationError as e:
        if show:
            sys.stderr.write("\n")
        print(f"cryosim: calibration stopped: {e}", file=sys.stderr)
        return EXIT_INVALID if e.error.startswith(("ScenarioError", "OutputError")) else EXIT_NOT_CONVERGED
    if show:
        sys.stderr.write("\n")
    print(result.table())
    print(f"wrote {out}/: " + ", ".join(result.files.values()) + ", points/, study.toml, calibration-study.json")
    return EXIT_OK


def _add_study_commands(sub: argparse._SubParsersAction) -> None:
    from .post.isotherms import MEASURES
    from .studies.executors import DEFAULT_WORKERS

    p = sub.add_parser("sweep", help="run a design study (grid, list or Latin hypercube over scenario fields)",
                       description="Run every point of a study file; each finished point is stored at once in "
                                   "OUT/points/, so an interrupted study resumes with the same command.")
    p.add_argument("study", help="study TOML file (see examples/study_gauge_temperature.toml)")
    p.add_argument("--out", help="study folder: new, empty, or an earlier run of the same study (resumed). "
                                 "Default: cryosim-output/<study name>")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="local worker processes")
    p.add_argument("--scheduler", help="address of a Dask scheduler (tcp://host:port): run there instead")
    p.add_argument("--retry-errors", action="store_true",
                   help="when resuming, compute the points stored as failed again (else a failure is a result)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="record the points that cannot run (checked before any runs) as failed and run the others "
                        "(default: refuse the study, listing them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("calibrate", help="fit scenario parameters to measurements (thermocouples, isotherm sizes, "
                                         "thermistor, skin temperature)",
                       description="Fit the parameters of a calibration study file by weighted least squares, "
                                   "with 95 % intervals, correlations and identifiability warnings. Every model "
                                   "run is stored at once in OUT/points/, so an interrupted calibration resumes "
                                   "with the same command. Writes calibration.json, residuals.png and, for a "
                                   "probe design's operation, a fitted design file.")
    p.add_argument("study", help="calibration study TOML file (see examples/calibrate_device.toml)")
    p.add_argument("--out", help="calibration folder: new, empty, or an earlier run of the same study (resumed). "
                                 "Default: cryosim-output/<calibration name>")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="local worker processes")
    p.add_argument("--scheduler", help="address of a Dask scheduler (tcp://host:port): run there instead")
    p.add_argument("--serial", action="store_true", help="run the model in this process (no worker processes)")
    p.add_argument("--quiet", action="store_true", help="no progress line")

    p = sub.add_parser("chart", help="isotherm chart of a probe: 0/-20/-40 °C width and length against freeze time")
    p.add_argument("scenario", nargs="?", help="scenario TOML file (its first freeze step is charted)")
    p.add_argument("--duration-s", type=float, help="freeze time charted (default: the step's duration)")
    p.add_argument("--step-s", type=float, default=10.0, help="chart row every this many seconds")
    p.add_argument("--out", help=HELP_OUT.replace("<scenario name>", "<scenario name>-chart"))
    p.add_argument("--overwrite", action="store_true", help="replace an earlier chart of the same folder")

    p = sub.add_parser("design", help="least freeze, thinnest probe or warmest tip that brings a nerve below "
                                      "a temperature")
    p.add_argument("scenario", nargs="?", help="scenario TOML file (the protocol's cycles are kept)")
    p.add_argument("--find", required=True, choices=("duration", "gauge", "tip-temperature"))
    p.add_argument("--nerve-distance-m", type=float, required=True,
                   help="distance of the nerve from the probe axis (m), level with the middle of the active tip")
    p.add_argument("--threshold-C", type=float, default=-20.0, help="temperature the nerve must get below (°C)")

    p = sub.add_parser("uncertainty", help="ice-ball band and Sobol indices from uncertain tissue properties")
    p.add_argument("scenario", nargs="?", help="scenario TOML file")
    p.add_argument("--samples", type=int, default=32, help="Saltelli base samples (a power of 2)")
    p.add_argument("--spread", action="append", metavar="FIELD=DIST:REL",
                   help="an uncertain medium property, e.g. perfusion_per_s=uniform:0.5 (+-50 %%) or "
                        "conductivity_unfrozen_W_per_m_K=normal:0.1 (10 %% standard deviation); repeat for more. "
                        "Default: +-20 %% uniform on conductivity and heat capacity, +-50 %% on perfusion (IT'IS)")
    p.add_argument("--measure", default="width_m", choices=MEASURES)
    p.add_argument("--out", help="folder: new, empty, or an earlier run (resumed)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="local worker processes")
    p.add_argument("--scheduler", help="address of a Dask scheduler (tcp://host:port)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


_STUDY_COMMANDS = {"sweep": _sweep, "chart": _chart, "design": _design, "uncertainty": _uncertainty,
                   "calibrate": _calibrate}


HELP_OUT = (
    "output folder. If it does not exist it is created and holds the result. If it is an earlier "
    "cryosim result (it holds a .cryosim-result file) it is replaced only with --overwrite, else the "
    "result goes to a new sibling (DIR-2, DIR-3...). Any other existing folder is never emptied or "
    "deleted: the result goes into a new subfolder DIR/<scenario name>. A file or a symbolic link is refused. "
    "Default: cryosim-output/<scenario name>"
)


def _mpi_rank() -> int:
    """This process's rank when started by mpirun / mpiexec (MPICH, Open MPI, Slurm), else 0."""
    import os

    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        value = os.environ.get(key)
        if value is not None and value.isdigit():
            return int(value)
    return 0


def main(argv: list[str] | None = None) -> int:
    if _mpi_rank() > 0:  # under mpirun every rank runs the command: only rank 0 speaks (errors still show)
        import os

        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    parser = argparse.ArgumentParser(
        prog="cryosim", description="Ice-ball growth around cryoprobes.",
        epilog="Exit status: 0 done, 2 invalid scenario or output folder refused, 3 no convergence, "
               "4 results could not be written, 5 stopped by a physical guard, 6 a study with failed points, "
               "130 interrupted.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"cryosim {__version__}")
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
    p_run.add_argument("--no-band", action="store_true",
                       help="skip the band over the probe design's stated ranges (printed after the table "
                            "when the scenario's design states ranges)")
    p_val = sub.add_parser("validate", help="run the verification and validation cases and write the report")
    p_val.add_argument("--out", default="cryosim-output/validation", help="report folder (an earlier report there "
                       "is kept and a sibling used, unless --overwrite)")
    p_val.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    p_val.add_argument("--quiet", action="store_true", help="no line per case")
    p_val.add_argument("--fast", action="store_true", help="coarse variants (what the tests run)")
    p_val.add_argument("--case", action="append", metavar="ID",
                       help="run only this case (repeatable; default: every case)")
    p_pr = sub.add_parser("probes", help="list the probe designs (Joule–Thomson devices) with floor and capacity")
    p_pr.add_argument("--tissue-temperature", type=float, default=37.0,
                      help="wall temperature (°C) at which the maximum capacity is given (default 37)")
    _add_study_commands(sub)
    args = parser.parse_args(argv)
    _STATE.partial = None
    _STATE.sigint_received = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        if args.command == "probes":
            return _probes(args)
        if args.command in _STUDY_COMMANDS:
            return _STUDY_COMMANDS[args.command](args)
        return _run(args) if args.command == "run" else _validate(args)
    except KeyboardInterrupt:
        print("\n" + _interruption_message(), file=sys.stderr)
        return EXIT_INTERRUPTED
    except ScenarioError as e:
        what = "refused" if type(e).__name__ == "OutputError" else "invalid scenario"
        print(f"cryosim: {what}: {e}", file=sys.stderr)
        return EXIT_INVALID
    except PhysicalGuardError as e:
        print(f"cryosim: stopped by a physical guard: {e}", file=sys.stderr)
        return EXIT_GUARD
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
