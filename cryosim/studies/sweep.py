"""Run a study: every point once, each stored as it finishes, then the table and the plots."""

from __future__ import annotations

import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks import check_choice
from .executors import DEFAULT_WORKERS, run_dask, run_local
from .plots import plot_sweep
from .store import StudyFolder, open_study_folder
from .study import Study, load_study, study_from_dict

__all__ = ["InvalidPointsError", "INVALID_CHOICES", "invalid_points", "run_study", "sweep"]

#: What a study does with points that cannot run (checked before the first one runs): refuse the study, or
#: record them as failed points and run the others.
INVALID_CHOICES = ("refuse", "record")


class InvalidPointsError(ValueError):
    """Points of a study that cannot run, found before any point ran; ``invalid`` lists (index, assignment, why)."""

    def __init__(self, study: str, invalid: list[tuple[int, dict[str, Any], str]], total: int) -> None:
        self.invalid = invalid
        groups: dict[str, list[int]] = {}
        for i, _, why in invalid:
            groups.setdefault(why, []).append(i)
        lines = [f"{len(invalid)} of {total} points of study {study!r} cannot run; nothing was computed:"]
        for why, idx in groups.items():
            shown = ", ".join(str(i) for i in idx[:8]) + (", ..." if len(idx) > 8 else "")
            lines.append(f"  points {shown}: {why}")
        super().__init__("\n".join(lines))


def invalid_points(study: Study, points: list[dict[str, Any]], indices: list[int],
                   groups: dict[int, Hashable] | None = None) -> list[tuple[int, dict[str, Any], str]]:
    """(index, assignment, why) of every point of ``indices`` (into ``points``, the study's assignments) that
    cannot run (:func:`~cryosim.studies.point.plan_point`). ``groups``, when given, receives the mesh group of
    every point (:func:`~cryosim.studies.point.plan_point`, found by the same check)."""
    from .point import plan_point

    out = []
    for i in indices:
        why, group = plan_point(study.base, points[i], study.times_s)
        if groups is not None:
            groups[i] = group
        if why:
            out.append((i, dict(points[i]), why))
    return out


def _as_study(study: Study | str | Path | Mapping[str, Any]) -> Study:
    if isinstance(study, Study):
        return study
    if isinstance(study, Mapping):
        return study_from_dict(study)
    return load_study(study)


def run_study(folder: StudyFolder, *, workers: int = DEFAULT_WORKERS, scheduler: str | None = None,
              progress: bool = True, plots: bool = True, retry_errors: bool = False,
              invalid: str = "refuse") -> pd.DataFrame:
    """Compute the points of ``folder`` not stored yet, then assemble the table (and the plots).

    Every point to compute is checked first (its scenario built and validated, its work estimated:
    :func:`invalid_points`); with ``invalid = "refuse"`` (default) one that cannot run stops the study before
    any point runs (:class:`InvalidPointsError`, listing them), with ``"record"`` they are stored as failed
    points and the others run. A failed point is a finished point (its error is its result); ``retry_errors``
    computes the failed ones again (after a lost worker, or a fix in the environment).
    """
    from tqdm import tqdm

    from .point import failed_row

    check_choice("invalid", invalid, INVALID_CHOICES)
    study = folder.study
    done = folder.finished() - (folder.failed() if retry_errors else set())
    todo = [i for i in range(len(folder.points)) if i not in done]
    groups: dict[int, Hashable] = {}
    bad = invalid_points(study, folder.points, todo, groups)
    if bad and invalid == "refuse":
        raise InvalidPointsError(study.name, bad, len(folder.points))
    for i, assignment, why in bad:
        folder.store(failed_row(i, assignment, why))
    skip = {i for i, _, _ in bad}
    done |= skip
    tasks = [(i, study.base, p, study.times_s) for i, p in enumerate(folder.points) if i not in done]
    errors = 0
    with tqdm(total=len(folder.points), initial=len(done), disable=not progress, unit="point",
              desc=study.name, dynamic_ncols=True) as bar:
        def on_row(row: dict[str, Any]) -> None:
            nonlocal errors
            folder.store(row)
            errors += row["status"] != "ok"
            bar.update(1)
            if errors:
                bar.set_postfix(errors=errors)

        if tasks:
            if scheduler is None:
                run_local(tasks, on_row, workers=workers, groups=groups)
            else:
                run_dask(tasks, on_row, scheduler, groups=groups)
    df = folder.table()
    folder.write_table(df)
    if plots:
        plot_sweep(df, list(study.parameters), list(study.base["isotherms_C"]), folder.path / "plots")
    return df


def sweep(study: Study | str | Path | Mapping[str, Any], out: str | Path | None = None, *,
          workers: int = DEFAULT_WORKERS, scheduler: str | None = None, progress: bool = False,
          plots: bool | None = None, retry_errors: bool = False, invalid: str = "refuse") -> pd.DataFrame:
    """Run ``study`` (a :class:`Study`, a study file or its parsed dict) and return its table, one row per point.

    ``out``: the study folder (created, or resumed when it holds an earlier
    run of the same study); None computes in a temporary folder that is
    removed afterwards. ``scheduler``: the address of a Dask scheduler to run
    the points on instead of ``workers`` local processes. ``plots`` defaults
    to True with ``out`` and False without. ``retry_errors``: compute the
    points stored as failed again when resuming. ``invalid``: what to do with points that cannot run, found
    before any point runs (:func:`run_study`: "refuse" the study, or "record" them as failed and run the rest).
    """
    study = _as_study(study)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="cryosim-study-") as tmp:
            folder = open_study_folder(Path(tmp) / "study", study)
            return run_study(folder, workers=workers, scheduler=scheduler, progress=progress, plots=bool(plots),
                             invalid=invalid)
    folder = open_study_folder(out, study)
    return run_study(folder, workers=workers, scheduler=scheduler, progress=progress,
                     plots=True if plots is None else plots, retry_errors=retry_errors, invalid=invalid)
