"""Where the points run: local worker processes, or an existing Dask cluster.

Both take tasks ``(index, base, assignment, times_s)`` and call
``on_row(row)`` in this process for each finished point, as it finishes, so
the caller stores it at once. Worker processes are reused across points and
warm up once (:func:`cryosim.studies.point.warm_up`): the numba kernels are
compiled or loaded once per worker, not once per point.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..checks import ScenarioError
from .point import compute_point, failed_row, warm_up

__all__ = ["DEFAULT_WORKERS", "IN_FLIGHT_PER_WORKER", "MAX_WORKERS", "MAX_WORKER_DEATHS", "check_workers", "run_dask", "run_local",
           "stop_workers"]

Task = tuple[int, dict[str, Any], dict[str, Any], tuple[float, ...]]
OnRow = Callable[[dict[str, Any]], None]

#: Local worker processes by default: the 2 cores of the reference machine.
DEFAULT_WORKERS = 2
#: Most local worker processes: a bound against a typo, far above any machine's cores.
MAX_WORKERS = 1024
#: Points handed out per worker at a time: 2 keeps a worker busy while the
#: next point travels to it, and bounds what a lost worker takes down with it.
IN_FLIGHT_PER_WORKER = 2
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


def run_local(tasks: Sequence[Task], on_row: OnRow, workers: int = DEFAULT_WORKERS) -> None:
    """Run ``tasks`` on ``workers`` local processes (spawned, reused; a broken pool is restarted)."""
    check_workers(workers)
    pending = {t[0]: t for t in tasks}
    deaths: Counter[int] = Counter()
    barren_pools = 0  # pools in a row that broke before finishing any point
    context = multiprocessing.get_context("spawn")  # no state inherited from this process (threads, open files)
    while pending:
        executor = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context,
                                       initializer=_init_worker)
        queue = list(pending)
        in_flight: dict[Future, int] = {}
        broken = False
        finished = 0
        try:
            while (queue or in_flight) and not broken:
                while queue and len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                    i = queue.pop(0)
                    in_flight[executor.submit(compute_point, *pending[i])] = i
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for f in done:
                    i = in_flight.pop(f)
                    try:
                        row = f.result()
                    except BrokenProcessPool:
                        broken = True
                        deaths[i] += 1
                        continue
                    on_row(row)
                    del pending[i]
                    finished += 1
            if broken:
                barren_pools = 0 if finished else barren_pools + 1
                if barren_pools >= MAX_BARREN_POOLS:
                    raise RuntimeError(
                        f"the worker processes died {barren_pools} times before finishing any point: they "
                        "cannot start. Worker processes are spawned and import the main module: a script that "
                        "runs a study must do it under `if __name__ == \"__main__\":`")  # every point still in flight went down with the pool
                for i in in_flight:
                    deaths[i] += 1
                for i, n in deaths.items():
                    if n >= MAX_WORKER_DEATHS and i in pending:
                        on_row(failed_row(i, pending.pop(i)[2], f"a worker process died while computing this "
                                          f"point, {n} times (out of memory, or a crash in compiled code)"))
        except BaseException:
            stop_workers(executor)
            raise
        executor.shutdown(wait=True, cancel_futures=True)


def run_dask(tasks: Sequence[Task], on_row: OnRow, address: str) -> None:
    """Run ``tasks`` on the Dask distributed cluster at ``address`` (its scheduler).

    The workers must be able to import cryosim. A point whose worker is lost is
    retried by the scheduler (its ``allowed-failures`` setting) and then
    recorded as an error.
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
        futures = client.map(compute_point, *zip(*tasks), pure=False)
        assignments = {f.key: t for f, t in zip(futures, tasks)}
        try:
            for future in as_completed(futures):
                if future.status == "finished":
                    on_row(future.result())
                else:
                    index, _, assignment, _ = assignments[future.key]
                    on_row(failed_row(index, assignment, f"lost on the cluster: {future.exception()!r}"))
                future.release()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
