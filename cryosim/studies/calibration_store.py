"""Where a calibration's model evaluations run and are kept.

Layout of a calibration folder (as a study folder, :mod:`cryosim.studies.store`)::

    .cryosim-calibration      marker: this folder is a calibration (resumable)
    calibration-study.json    digest of the calibration's definition, cryosim version, the definition
    study.toml                copy of the study file as read (when there is one)
    points/<key>.json         one per evaluated point, keyed by a hash of its parameter values
    calibration.json, residuals.png, <design>.toml ...   written at the end

Every file is written through :func:`cryosim.post.files.atomic_write`, so a
point file is complete or absent whenever the process is stopped; an
interrupted calibration retraces the optimizer's path with the stored
points (the optimizer is deterministic) and computes only what is missing.

:class:`BatchRunner` evaluates a batch of points together on local worker
processes (spawned once, reused for every batch, warmed up once), on a Dask
cluster, on any executor with ``submit`` (a ``concurrent.futures``
executor, a ``distributed.Client``), or serially in this process.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .. import __version__
from ..checks import ScenarioError
from ..post.files import OutputError, atomic_write, check_not_symlink
from .executors import check_workers, stop_workers
from .point import warm_up

__all__ = ["CALIBRATION_MARKER", "BatchRunner", "CalibrationFolder", "point_key"]

CALIBRATION_MARKER = ".cryosim-calibration"
#: A point whose worker process died this many times is recorded as an error.
MAX_WORKER_DEATHS = 2


def point_key(assignment: Mapping[str, float]) -> str:
    """Hash of a parameter vector: the exact bits of every value (``float.hex``), names sorted."""
    text = json.dumps({k: float(v).hex() for k, v in sorted(assignment.items())}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _json_value(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_value(v) for v in x]
    return x


class CalibrationFolder:
    """The points of one calibration, in memory and (with a ``path``) on disk."""

    def __init__(self, path: Path | None, digest: str) -> None:
        self.path = path
        self.digest = digest
        self.points: dict[str, dict[str, Any]] = {}
        if path is not None:
            for p in (path / "points").glob("*.json"):
                try:
                    with p.open(encoding="utf-8") as fh:
                        self.points[p.stem] = json.load(fh)
                except (OSError, ValueError):  # never complete by construction; skip anything unreadable
                    continue

    def get(self, key: str) -> dict[str, Any] | None:
        return self.points.get(key)

    def store(self, key: str, row: dict[str, Any], persist: bool = True) -> None:
        """Keep the row of point ``key`` (and write it atomically, unless ``persist`` is False)."""
        self.points[key] = row
        if self.path is not None and persist:
            clean = _json_value(dict(row, key=key))
            atomic_write(self.path / "points" / f"{key}.json", lambda fh: json.dump(clean, fh, indent=1))


def open_calibration_folder(path: str | Path | None, definition: Mapping[str, Any],
                            source_text: str | None = None) -> CalibrationFolder:
    """Create the calibration folder at ``path``, or resume the one there (same digest); None: in memory only.

    ``path`` may not exist yet, be empty, or hold a calibration of the same
    definition. A folder of other files or of another calibration is refused,
    a symbolic link never followed.
    """
    text = json.dumps(_json_value(dict(definition)), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if path is None:
        return CalibrationFolder(None, digest)
    path = Path(path)
    check_not_symlink(path, "--out")
    if path.exists() and not path.is_dir():
        raise OutputError("--out", str(path), "a folder or a path that does not exist yet (this is a file)")
    manifest_file = path / "calibration-study.json"
    if (path / CALIBRATION_MARKER).is_file():
        try:
            with manifest_file.open(encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (OSError, ValueError) as e:
            raise OutputError("calibration folder", str(path), f"a folder with a readable calibration-study.json ({e})"
                              ) from None
        if manifest.get("digest") != digest:
            raise OutputError(
                "calibration folder", str(path),
                f"a folder of this calibration: it holds calibration {manifest.get('name')!r} (digest "
                f"{str(manifest.get('digest'))[:12]}), and this one is defined otherwise (digest {digest[:12]}: a "
                "model, parameter, bound, data file or setting differs). Resume with the same study, or give another "
                "--out")
        if manifest.get("cryosim_version") != __version__:
            print(f"cryosim: note: {path} was started with cryosim {manifest.get('cryosim_version')}, this is "
                  f"{__version__}; each point records the version that computed it")
        (path / "points").mkdir(exist_ok=True)
        for tmp in (path / "points").glob(".*.tmp"):  # temporaries of a killed run: never complete
            tmp.unlink()
        return CalibrationFolder(path, digest)
    if path.exists() and any(os.scandir(path)):
        raise OutputError("--out", str(path), "an empty or new folder, or the folder of an earlier run of this "
                          "calibration (this one holds other files, and a calibration does not write among them)")
    path.mkdir(parents=True, exist_ok=True)
    (path / "points").mkdir(exist_ok=True)
    manifest = {"name": definition.get("name"), "digest": digest, "cryosim_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "definition": _json_value(dict(definition))}
    if source_text is not None:
        atomic_write(path / "study.toml", lambda fh: fh.write(source_text))
    atomic_write(manifest_file, lambda fh: json.dump(manifest, fh, indent=1, default=str))
    atomic_write(path / CALIBRATION_MARKER, lambda fh: fh.write(
        "This folder holds a cryosim calibration: `cryosim calibrate` with the same study file resumes it.\n"))
    return CalibrationFolder(path, digest)


def _init_scenario_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


def _init_plain_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class BatchRunner:
    """Evaluates batches of tasks ``fn(*args)``; one pool (or client) for the whole calibration.

    ``executor``: "processes" (``workers`` local processes, spawned), "serial"
    (this process), or an object with ``submit(fn, *args)`` returning a future
    (``concurrent.futures`` executors, ``distributed.Client``); ``scheduler``:
    the address of a Dask scheduler (overrides ``executor``). ``warm``: warm
    the numba kernels up once per worker (scenario models).
    """

    def __init__(self, executor: Any = "processes", workers: int = 2, scheduler: str | None = None,
                 warm: bool = True) -> None:
        self.executor, self.workers, self.scheduler, self.warm = executor, workers, scheduler, warm
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        if scheduler is None and isinstance(executor, str):
            if executor not in ("processes", "serial"):
                raise ScenarioError("executor", executor, "'processes', 'serial', an executor with submit(), or a "
                                    "Dask scheduler address as scheduler=")
            if executor == "processes":
                check_workers(workers)
        elif scheduler is None and not callable(getattr(executor, "submit", None)):
            raise ScenarioError("executor", type(executor).__name__, "'processes', 'serial' or an object with submit()")

    @property
    def parallel(self) -> int:
        """How many points run at once (for the choice of batches)."""
        if self.scheduler is None and self.executor == "serial":
            return 1
        if self.scheduler is None and self.executor == "processes":
            return self.workers
        return max(self.workers, 2)

    def __enter__(self) -> "BatchRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(abort=exc[0] is not None)

    def close(self, abort: bool = False) -> None:
        if self._pool is not None:
            if abort:
                stop_workers(self._pool, kill=True)
            else:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_scenario_worker if self.warm else _init_plain_worker)

    def _submitter(self) -> Any:
        if self.scheduler is not None:
            if self._client is None:
                try:
                    from distributed import Client
                except ImportError as e:
                    raise ScenarioError("--scheduler", self.scheduler, f"an installed dask.distributed ({e}); "
                                        "install cryosim[studies]") from None
                try:
                    self._client = Client(self.scheduler, timeout="20s")
                except (OSError, TimeoutError, ValueError) as e:
                    raise ScenarioError("--scheduler", self.scheduler, f"the address of a running Dask scheduler ({e})"
                                        ) from None
                if self.warm:
                    self._client.run(warm_up)
            return self._client
        return self.executor

    def run(self, fn: Callable[..., dict[str, Any]], tasks: Sequence[tuple[Any, ...]],
            on_done: Callable[[int, dict[str, Any]], None], failed: Callable[[int, str], dict[str, Any]]) -> None:
        """Run every task; ``on_done(i, row)`` in this process as each finishes (the caller stores it)."""
        if not tasks:
            return
        if self.scheduler is None and self.executor == "serial":
            for i, args in enumerate(tasks):
                on_done(i, fn(*args))
            return
        if self.scheduler is None and self.executor == "processes":
            self._run_pool(fn, tasks, on_done, failed)
            return
        sub = self._submitter()
        futures = {sub.submit(fn, *args, **({"pure": False} if self.scheduler is not None else {})): i
                   for i, args in enumerate(tasks)}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED) if not hasattr(sub, "gather") else \
                    _dask_wait(pending)
                for f in done:
                    try:
                        row = f.result()
                    except Exception as e:  # noqa: BLE001 - a lost task is a failed point
                        row = failed(futures[f], f"lost on the executor: {e!r}")
                    on_done(futures[f], row)
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def _run_pool(self, fn: Callable[..., dict[str, Any]], tasks: Sequence[tuple[Any, ...]],
                  on_done: Callable[[int, dict[str, Any]], None], failed: Callable[[int, str], dict[str, Any]]) -> None:
        pending = dict(enumerate(tasks))
        deaths: dict[int, int] = {}
        barren = 0  # pools in a row that broke before finishing any point
        while pending:
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                in_flight: dict[Future, int] = {self._pool.submit(fn, *args): i for i, args in pending.items()}
                broken = False
                finished = 0
                while in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for f in done:
                        i = in_flight.pop(f)
                        try:
                            row = f.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        del pending[i]
                        finished += 1
                        on_done(i, row)
                    if broken:
                        break
            except BaseException:
                stop_workers(self._pool, kill=True)
                self._pool = None
                raise
            if broken:  # every point still pending went down with the pool: count, retry, give up on repeat
                stop_workers(self._pool, kill=True)
                self._pool = None
                barren = 0 if finished else barren + 1
                if barren >= 2:
                    raise RuntimeError(
                        "the worker processes died twice before finishing any point: they cannot start. Worker "
                        "processes are spawned and import the main module: a script that calibrates must do it "
                        "under `if __name__ == \"__main__\":`")
                for i in list(pending):
                    deaths[i] = deaths.get(i, 0) + 1
                    if deaths[i] >= MAX_WORKER_DEATHS:
                        del pending[i]
                        on_done(i, failed(i, f"a worker process died while computing this point, {deaths[i]} times "
                                             "(out of memory, or a crash in compiled code)"))


def _dask_wait(pending: set[Any]) -> tuple[set[Any], set[Any]]:
    from distributed import wait as dwait

    res = dwait(list(pending), return_when="FIRST_COMPLETED")
    return set(res.done), set(res.not_done)
