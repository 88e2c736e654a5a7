"""Where the points run: local worker processes, or an existing Dask cluster.

Both take tasks ``(index, base, assignment, times_s)`` and call
``on_row(row)`` in this process for each finished point, as its chunk finishes, so
the caller stores it at once. Points travel in chunks of one mesh group (:func:`chunk_tasks`): a worker
meshes a group's grid once, and one message carries several points. Worker processes are reused across points and
warm up once (:func:`cryosim.studies.point.warm_up`): the numba kernels are
compiled or loaded once per worker, not once per point.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..checks import ScenarioError
from .point import compute_points, failed_row, warm_up

__all__ = ["CHUNK_POINTS", "DEFAULT_WORKERS", "IN_FLIGHT_PER_WORKER", "chunk_tasks", "MAX_WORKERS", "MAX_WORKER_DEATHS", "check_workers", "run_dask", "run_local",
           "stop_workers"]

Task = tuple[int, dict[str, Any], dict[str, Any], tuple[float, ...]]
OnRow = Callable[[dict[str, Any]], None]

#: Local worker processes by default: the 2 cores of the reference machine.
DEFAULT_WORKERS = 2
#: Most local worker processes: a bound against a typo, far above any machine's cores.
MAX_WORKERS = 1024
#: Chunks handed out per worker at a time: 2 keeps a worker busy while the
#: next chunk travels to it, and bounds what a lost worker takes down with it.
IN_FLIGHT_PER_WORKER = 2
#: Most points in one chunk (one task): 8 fast points of the example sweeps are about 1 s of work, which
#: amortises a task's message and process wake-up (about 1 ms) and meshes a group's grid once (about 30 ms a
#: grid at resolution 0.5, against about 100 ms a point's solve) while the last chunks still even out the end
#: of a sweep on 2 workers and a lost worker takes down at most 8 points.
CHUNK_POINTS = 8
#: A point in flight when a worker process died this many times is recorded as
#: an error (it probably kills its worker: memory, a crash in compiled code)
#: instead of being retried for ever; points that were merely in flight beside it are retried.
MAX_WORKER_DEATHS = 2


#: Pools that break in a row without finishing a single point: the workers
#: cannot start (a script without a main guard, a broken install), and
#: retrying would only blame every point in turn.
MAX_BARREN_POOLS = 2


def _init_worker() -> None:
    """Worker process set-up: Ctrl-C is the parent's to handle (it stops the workers), then the warm-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


def stop_workers(executor: ProcessPoolExecutor, kill: bool = False) -> None:
    """Cancel what has not started and end the worker processes without waiting for their points.

    ``kill``: SIGKILL instead of SIGTERM (a worker inside the solver's PETSc prints a crash report on SIGTERM; a
    killed point is simply not stored). Python < 3.14 has no public ``terminate_workers``: the processes are
    taken from the executor before ``shutdown`` drops them.
    """
    terminate = None if kill else getattr(executor, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill() if kill else p.terminate()
    for p in processes:
        p.join(timeout=5)


def check_workers(workers: object) -> int:
    """Refuse a number of local worker processes outside [1, :data:`MAX_WORKERS`]."""
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ScenarioError("--workers", workers, f"an integer number of worker processes in [1, {MAX_WORKERS}]")
    return workers


def chunk_tasks(tasks: Sequence[Task], groups: Mapping[int, Hashable] | None = None,
                max_points: int | None = None) -> list[list[Task]]:
    """``tasks`` in chunks: the points of one mesh group (``groups[index]``, :func:`~.point.plan_point`; None or
    absent: a group of its own) together, at most ``max_points`` (default :data:`CHUNK_POINTS`) a chunk, the
    largest chunks first (they finish early, the small ones fill the end), groups in order of first appearance
    otherwise. A chunk is one task: its worker meshes the group's grid once and its rows travel back together."""
    max_points = CHUNK_POINTS if max_points is None else max_points
    groups = groups or {}
    by_group: dict[Hashable, list[Task]] = {}
    chunks: list[list[Task]] = []
    for t in tasks:
        g = groups.get(t[0])
        if g is None:
            chunks.append([t])
        else:
            by_group.setdefault(g, []).append(t)
    for members in by_group.values():
        chunks += [members[k:k + max_points] for k in range(0, len(members), max_points)]
    chunks.sort(key=lambda c: (-len(c), c[0][0]))
    return chunks


def run_local(tasks: Sequence[Task], on_row: OnRow, workers: int = DEFAULT_WORKERS,
              groups: Mapping[int, Hashable] | None = None) -> None:
    """Run ``tasks`` on ``workers`` local processes (spawned, reused; a broken pool is restarted).

    The points go in chunks (:func:`chunk_tasks`, by mesh group ``groups``). When a worker dies, every point of
    the chunks in flight is a suspect: from then on each suspect runs alone, with nothing else in flight, so a
    point that kills its worker again is the one blamed (:data:`MAX_WORKER_DEATHS`) and the others are simply
    computed again.
    """
    check_workers(workers)
    pending = {t[0]: t for t in tasks}
    deaths: Counter[int] = Counter()
    barren_pools = 0  # pools in a row that broke before finishing any point
    context = multiprocessing.get_context("spawn")  # no state inherited from this process (threads, open files)
    while pending:
        suspects = [[pending[i]] for i in pending if deaths[i]]
        queue = suspects + chunk_tasks([pending[i] for i in pending if not deaths[i]], groups)
        executor = ProcessPoolExecutor(max_workers=min(workers, len(queue)), mp_context=context,
                                       initializer=_init_worker)
        in_flight: dict[Future, list[int]] = {}
        broken = False
        finished = 0
        try:
            while (queue or in_flight) and not broken:
                suspect_running = any(deaths[i] for indices in in_flight.values() for i in indices)
                while queue and not suspect_running and len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                    suspect_running = deaths[queue[0][0][0]] > 0
                    if suspect_running and in_flight:
                        break  # a suspect runs with nothing beside it
                    chunk = queue.pop(0)
                    in_flight[executor.submit(compute_points, chunk)] = [t[0] for t in chunk]
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for f in done:
                    indices = in_flight.pop(f)
                    try:
                        rows = f.result()
                    except BrokenProcessPool:
                        broken = True
                        for i in indices:
                            deaths[i] += 1
                        continue
                    for row in rows:
                        on_row(row)
                        del pending[row["index"]]
                    finished += len(rows)
            if broken:
                barren_pools = 0 if finished else barren_pools + 1
                if barren_pools >= MAX_BARREN_POOLS:
                    raise RuntimeError(
                        f"the worker processes died {barren_pools} times before finishing any point: they "
                        "cannot start. Worker processes are spawned and import the main module: a script that "
                        "runs a study must do it under `if __name__ == \"__main__\":`")  # every point still in flight went down with the pool
                for indices in in_flight.values():
                    for i in indices:
                        deaths[i] += 1
                for i, n in deaths.items():
                    if n >= MAX_WORKER_DEATHS and i in pending:
                        on_row(failed_row(i, pending.pop(i)[2], f"a worker process died while computing this "
                                          f"point, {n} times (out of memory, or a crash in compiled code)"))
        except BaseException:
            stop_workers(executor)
            raise
        executor.shutdown(wait=True, cancel_futures=True)


def run_dask(tasks: Sequence[Task], on_row: OnRow, address: str,
             groups: Mapping[int, Hashable] | None = None) -> None:
    """Run ``tasks`` on the Dask distributed cluster at ``address`` (its scheduler), in chunks by mesh group
    (:func:`chunk_tasks`).

    The workers must be able to import cryosim. A chunk whose worker is lost is
    retried by the scheduler (its ``allowed-failures`` setting) and then
    its points are recorded as errors.
    """
    try:
        from distributed import Client, as_completed
    except ImportError as e:
        raise ScenarioError("--scheduler", address, f"an installed dask.distributed ({e}); "
                            "install cryosim[studies]") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as e:
        raise ScenarioError("--scheduler", address, f"the address of a running Dask scheduler ({e})") from None
    try:
        client.run(warm_up)  # once on every worker now connected
        chunks = chunk_tasks(tasks, groups)
        futures = client.map(compute_points, chunks, pure=False)
        held = {f.key: c for f, c in zip(futures, chunks)}
        try:
            for future in as_completed(futures):
                if future.status == "finished":
                    for row in future.result():
                        on_row(row)
                else:
                    for index, _, assignment, _ in held[future.key]:
                        on_row(failed_row(index, assignment, f"lost on the cluster: {future.exception()!r}"))
                future.release()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
