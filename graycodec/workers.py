"""Worker processes for ``batch.run_jobs(..., workers=N)``: one job at a time per process.

::

    parent: jobs in order ─prepare_output─▶ idle worker ◀─┐        results ─in job order─▶ caller
                                   │                      │              ▲
    worker k (spawned): WorkSpec.build() once ─▶ recv job ─▶ work(job) ─▶ send outcome
                        (its own LazyPredictor: at most one model per process)

Why a pool of our own rather than ``concurrent.futures.ProcessPoolExecutor``: each worker holds
one job at a time and the parent knows which, so a worker that dies (SIGKILL, the OOM killer, a
crash in native code) fails exactly the file it held. That file is tried once more in a fresh
worker, alone; if it kills that one too it fails with one line (``WorkerDiedError``), and every
other file completes. ProcessPoolExecutor only says "the pool broke", for all pending files.

Processes are forked while the parent has neither torch nor other threads (the command line:
its own process never runs the model), else spawned (a forked child of a process whose torch
(OpenMP) or thread pools have run can deadlock): see :func:`start_method`. A worker costs
~0.3 s forked (the compiled lightness coder loaded from numba's on-disk cache), over 1 s
spawned (a fresh interpreter's imports too), once per batch, plus, for colour, torch's import
and the model load. Each worker gets
``threads = max(1, cores // workers)`` for the lightness coder's thread pool and for torch, so
workers × threads never oversubscribes the cores.

``GRAYCODEC_TEST_KILL_ON=<file name>`` (test-only): a worker given that input file SIGKILLs itself,
so that the tests can check the handling of a dying worker.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from .errors import EXIT_FAILED, GraycodecError

TEST_KILL_ENV = "GRAYCODEC_TEST_KILL_ON"  # test-only hook, see the module docstring
ATTEMPTS = 2  # a file whose worker died is tried once more, in a fresh worker
JOIN_TIMEOUT_S = 5.0


class WorkerDiedError(GraycodecError):
    """The worker process coding this file died (killed, or crashed in native code)."""

    exit_code = EXIT_FAILED


class RemoteError(GraycodecError):
    """An error raised in a worker that could not travel back as itself (not picklable):
    its message, exit code and class name."""

    def __init__(self, message: str, exit_code: int, type_name: str):
        super().__init__(message)
        self.exit_code, self.type_name = exit_code, type_name

    def __reduce__(self):
        return RemoteError, (str(self), self.exit_code, self.type_name)


def default_workers() -> int:
    """All usable cores (this process's CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    return max(1, default_workers() // max(1, workers))


@dataclass
class Outcome:
    """What a worker sends back for one job (the parent makes a JobResult of it)."""

    ok: bool
    figures: dict = field(default_factory=dict)
    error: BaseException | None = None
    seconds: float = 0.0
    warnings: list = field(default_factory=list)  # (category, message) heard during the job


def portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling, else a RemoteError with its message and code."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        code = getattr(exc, "exit_code", EXIT_FAILED)
        if isinstance(exc, GraycodecError):
            return RemoteError(str(exc), code, type(exc).__name__)
        return RemoteError(f"unexpected {type(exc).__name__}: {exc}", code, type(exc).__name__)


def _portable_warning(w: warnings.WarningMessage) -> tuple:
    category = w.category
    try:
        pickle.loads(pickle.dumps(category))
    except Exception:  # noqa: BLE001 - a class defined where the parent cannot find it
        category = UserWarning
    return category, str(w.message)


def limit_threads(threads: int) -> None:
    """The lightness coder's thread pool and torch use ``threads``. torch is not imported yet in
    a fresh worker (only a colour file imports it): it reads OMP_NUM_THREADS then, for its
    intra- and inter-op pools alike."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    from .lplane import strips

    strips.set_num_threads(threads)


def _worker_main(conn, spec, threads: int, notices: bool = True) -> None:
    """A worker's life: build the job body once, then code the jobs the parent sends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if not notices:  # one "compiling the lightness coder" note per command, not one per worker
        from . import lplane

        lplane.set_compile_notice(None)
    limit_threads(threads)
    work = spec.build()
    kill_on = os.environ.get(TEST_KILL_ENV)
    while True:
        try:
            msg = conn.recv()
        except EOFError:  # the parent is gone
            return
        if msg is None:
            return
        index, job = msg
        if kill_on and Path(job.src).name == kill_on:  # test-only: see TEST_KILL_ENV
            os.kill(os.getpid(), signal.SIGKILL)
        conn.send((index, run_work(work, job)))


def run_work(work, job) -> Outcome:
    """``work(job)`` with its error and warnings caught, for sending to the parent."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        try:
            out = Outcome(True, work(job))
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            out = Outcome(False, error=portable(exc))
    out.seconds = time.perf_counter() - start
    out.warnings = [_portable_warning(w) for w in heard]
    return out


# --- the parent's side -----------------------------------------------------------------------
FORK_SAFE_THREADS = ("tqdm_monitor", "lplane")  # idle daemons / reset at fork (lplane.strips)


def start_method() -> str:
    """"fork" while this process has not imported torch and runs no threads but known harmless
    ones (the command line's case: its own process never runs the model), else "spawn". A
    forked worker starts in ~0.3 s here (loading the compiled lightness coder), a spawned one
    in over 1 s (a fresh interpreter that imports the command line first); forking a process
    whose torch (OpenMP) or other thread pools have run can deadlock the child, so that spawns."""
    import sys
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if "fork" in multiprocessing.get_all_start_methods() and "torch" not in sys.modules \
            and all(t.name.startswith(FORK_SAFE_THREADS) for t in others):
        return "fork"
    return "spawn"



class _Worker:
    def __init__(self, ctx, spec, threads: int, notices: bool = False):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, spec, threads, notices), daemon=True,
                                name="graycodec-worker")
        self.proc.start()
        child.close()
        self.index: int | None = None  # the job it holds

    def send(self, index: int, job) -> None:
        self.index = index
        try:
            self.conn.send((index, job))
        except OSError:  # died already: its sentinel tells the pool
            pass

    def death(self) -> str:
        self.proc.join(JOIN_TIMEOUT_S)
        code = self.proc.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}"
        return f"exit code {code}"


def _stop(pool: list[_Worker]) -> None:
    """End every worker: idle ones are told to (None), busy ones (an early end: a batch-stopping
    error, Ctrl-C) are killed, and whatever has not ended after JOIN_TIMEOUT_S too."""
    for w in pool:
        if w.index is not None:
            w.proc.kill()
            continue
        try:
            w.conn.send(None)
        except OSError:
            pass
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for w in pool:
        w.proc.join(max(0.0, deadline - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
        w.conn.close()


def run_pool(jobs: list, spec, workers: int, prepare, fatal_types=()):
    """Yield ``(index, Outcome)`` for every job, in job order, from ``workers`` processes.

    ``prepare(job)`` runs in this process, in job order, just before a job is handed out (the
    output checks); its exception becomes that job's outcome. After an outcome whose error is
    one of ``fatal_types`` no later job is handed out, and the outcomes end with that one (the
    caller stops there). Closing the generator ends the workers.
    """
    ctx = multiprocessing.get_context(start_method())
    threads = threads_per_worker(workers)
    pending = deque(range(len(jobs)))
    attempts = [0] * len(jobs)
    done: dict[int, Outcome] = {}
    next_out, stop_at = 0, len(jobs)
    pool = [_Worker(ctx, spec, threads, notices=i == 0) for i in range(min(workers, len(jobs)))]
    try:
        while True:
            for w in pool:  # hand out work, in job order
                while w.index is None and pending:
                    k = pending.popleft()
                    if k > stop_at:
                        continue
                    start = time.perf_counter()
                    try:
                        if not attempts[k]:  # a retry's output is checked and claimed already
                            prepare(jobs[k])
                    except Exception as exc:  # noqa: BLE001 - that job's error
                        done[k] = Outcome(False, error=exc, seconds=time.perf_counter() - start)
                        continue
                    attempts[k] += 1
                    w.send(k, jobs[k])
            while next_out in done and next_out <= stop_at:
                yield next_out, done.pop(next_out)
                next_out += 1
            busy = [w for w in pool if w.index is not None]
            if next_out > stop_at or next_out >= len(jobs) or not busy:
                return
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for w in busy:
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                got = _receive(w)
                if got is not None:
                    k, out = got
                    done[k], w.index = out, None
                    if isinstance(out.error, fatal_types):
                        stop_at = min(stop_at, k)
                    continue
                if w.proc.is_alive() and w.proc.sentinel not in ready:
                    continue  # woken by a closed pipe only; the sentinel follows
                k, why = w.index, w.death()
                if attempts[k] >= ATTEMPTS:
                    done[k] = Outcome(False, error=WorkerDiedError(
                        f"the worker process died ({why}) while coding this file, in two tries"))
                else:
                    pending.appendleft(k)  # tried again first, in a fresh worker
                pool.remove(w)
                w.conn.close()
                pool.append(_Worker(ctx, spec, threads))
    finally:
        _stop(pool)


def _receive(w: _Worker):
    """(index, Outcome) if the worker sent one, None if it died first."""
    try:
        if w.conn.poll():
            return w.conn.recv()
    except (EOFError, OSError):
        pass
    return None
