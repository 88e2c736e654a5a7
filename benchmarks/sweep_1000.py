"""Benchmark (issue 9): a 1000-point design sweep of the fast solver on 2 cores.

Grid: 4 gauges x 5 tip temperatures x 5 freeze durations x 10 perfusion
rates around the default scenario (5 mm active tip, N2O, soft tissue),
run with 2 local worker processes and then on a 2-worker Dask LocalCluster,
in points per second (target: 1000 points in under 2 minutes). The point
resolution's accuracy is measured against resolution 1 on a few corner points.

    python benchmarks/sweep_1000.py                 # the full 1000 points
    python benchmarks/sweep_1000.py --points 200    # an evenly spread subset (extrapolate, and say so)

Writes nothing outside ``--out`` (a new folder; default: a temporary one).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import cryosim
from cryosim.studies import plain_scenario, scenario_at
from cryosim.studies.sweep import sweep

GAUGES = [14, 16, 18, 20]
TIP_C = [-85.0, -75.0, -65.0, -55.0, -45.0]
DURATION_S = [30.0, 60.0, 90.0, 120.0, 150.0]
PERFUSION_PER_S = [float(w) for w in np.linspace(0.0, 4.5e-3, 10)]  # 0 to ~9x the default 5e-4 1/s
PARAMS = {"probe.gauge": GAUGES, "protocol[0].tip_temperature_C": TIP_C, "protocol[0].duration_s": DURATION_S,
          "medium.perfusion_per_s": PERFUSION_PER_S}
#: Corner points of the grid for the accuracy check (thin/cold/short ... thick/warm/long, no/high perfusion).
CORNERS = [dict(zip(PARAMS, c)) for c in itertools.product(*[(v[0], v[-1]) for v in PARAMS.values()])][::3]
MEASURES = [(iso, m) for iso in (0.0, -20.0, -40.0) for m in ("width_m", "length_m", "volume_m3")]


def base_plain(resolution: float) -> dict:
    s = cryosim.default_scenario().with_(thermocouples=(), resolution=resolution)
    return plain_scenario(s)


def study(points: int, resolution: float) -> dict:
    grid = list(itertools.product(*PARAMS.values()))
    take = np.linspace(0, len(grid) - 1, points).round().astype(int) if points < len(grid) else range(len(grid))
    chosen = [grid[i] for i in take]
    return {"study": {"name": f"sweep-{points}", "design": "list"}, "base": base_plain(resolution),
            "parameters": {p: [c[j] for c in chosen] for j, p in enumerate(PARAMS)}}


def accuracy(resolution: float) -> dict:
    """Errors of the point resolution against resolution 1 over the corner points (largest relative,
    median relative, largest absolute in mm or mm³)."""
    rel: dict[str, list[float]] = {}
    absolute: dict[str, float] = {}
    cpu = {resolution: 0.0, 1.0: 0.0}
    for point in CORNERS:
        res = {}
        for r in (resolution, 1.0):
            t0 = time.process_time()
            res[r] = cryosim.run(scenario_at(base_plain(r), point))
            cpu[r] += time.process_time() - t0
        for iso, m in MEASURES:
            ref, got = res[1.0].maximum(iso, m), res[resolution].maximum(iso, m)
            key = f"{m}@{iso:g}C"
            rel.setdefault(key, []).append(abs(got / ref - 1.0) if ref > 0 else 0.0)
            scale = 1e9 if m == "volume_m3" else 1e3
            absolute[key] = max(absolute.get(key, 0.0), scale * abs(got - ref))
    return {"points": len(CORNERS), "max_rel_error": {k: max(v) for k, v in rel.items()},
            "median_rel_error": {k: float(np.median(v)) for k, v in rel.items()},
            "max_abs_error_mm_or_mm3": absolute, "cpu_s": cpu}


def first_point_s(folder: Path, t0: float, df) -> float:
    """Seconds from the sweep's start until its workers began the first point (start-up and warm-up)."""
    first = min((folder / "points").glob("*.json"), key=lambda p: p.stat().st_mtime)
    row = df.loc[int(first.stem)]
    return first.stat().st_mtime - t0 - float(row["wall_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--resolution", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--out", help="new folder for the study folders and benchmark.json")
    args = ap.parse_args()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True)  # a new folder: nothing of anyone else's is written over
    else:
        out = Path(tempfile.mkdtemp(prefix="cryosim-bench-"))
    spec = study(args.points, args.resolution)
    report: dict = {"points": args.points, "resolution": args.resolution, "workers": args.workers,
                    "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()}

    t0 = time.time()
    df = sweep(spec, out / "local", workers=args.workers, progress=True, plots=False)
    wall = time.time() - t0
    start = first_point_s(out / "local", t0, df)
    report["local"] = {"wall_s": wall, "points_per_s": len(df) / wall, "ok": int((df["status"] == "ok").sum()),
                       "start_s": start, "points_per_s_after_start": len(df) / (wall - start),
                       "cpu_s_points": float(df["cpu_s"].sum()), "wall_s_points": float(df["wall_s"].sum())}
    print(f"local processes: {len(df)} points in {wall:.1f} s = {len(df) / wall:.2f} points/s, of which "
          f"{start:.1f} s starting and warming up the workers ({len(df) / (wall - start):.2f} points/s after); "
          f"{report['local']['ok']} ok; CPU in the points {df['cpu_s'].sum():.1f} s")

    if not args.skip_dask:
        from distributed import LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            t_up = time.perf_counter() - t0
            t1 = time.perf_counter()
            dd = sweep(spec, out / "dask", scheduler=cluster.scheduler_address, progress=True, plots=False)
            dwall = time.perf_counter() - t1
        same = np.allclose(dd["volume_m3@0C"], df["volume_m3@0C"], rtol=1e-12, equal_nan=True)
        report["dask"] = {"cluster_start_s": t_up, "wall_s": dwall, "points_per_s": len(dd) / dwall,
                          "overhead_vs_local": dwall / wall - 1.0, "same_results_as_local": bool(same),
                          "cpu_s_points": float(dd["cpu_s"].sum())}
        print(f"Dask LocalCluster: cluster up in {t_up:.1f} s; {len(dd)} points in {dwall:.1f} s = "
              f"{len(dd) / dwall:.2f} points/s ({100 * (dwall / wall - 1):+.0f} % vs local); identical: {same}")

    report["accuracy"] = accuracy(args.resolution)
    acc = report["accuracy"]
    print(f"accuracy of resolution {args.resolution:g} vs 1 over {len(CORNERS)} corner points:")
    print(f"  {'measure':16s} {'max rel':>8s} {'median rel':>10s} {'max abs (mm, mm3)':>18s}")
    for k, v in acc["max_rel_error"].items():
        print(f"  {k:16s} {100 * v:7.2f}% {100 * acc['median_rel_error'][k]:9.2f}% "
              f"{acc['max_abs_error_mm_or_mm3'][k]:18.3f}")
    print(f"  CPU s for those points: {report['accuracy']['cpu_s']}")
    report["load_average_end"] = os.getloadavg()
    (out / "benchmark.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out}/benchmark.json")


if __name__ == "__main__":
    main()
