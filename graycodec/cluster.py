"""The batch job on a Dask cluster: ``graycodec cluster encode|decode|colorize SRC... -o DIR``.

::

    client: SRC (folders, files, file:// or other fsspec URIs) ─plan─▶ jobs ─check outputs─▶
            client.map(run_one, jobs) ──▶ Dask workers: the job body of `graycodec encode` /
            `decode` / `colorize` (batch.WorkSpec, built once per worker process, model loaded
            lazily once) reads, codes and writes the file itself ──▶ outcomes in job order ─▶
            the same error lines, --json and summary as the local command

Why Dask (``dask.distributed``) rather than Ray: it installs as two pure-Python wheels with the
dependencies graycodec has already (numpy, fsspec comes with dask) where Ray is a ~60 MB binary
wheel with its own object store and dashboard processes; a ``LocalCluster`` of 2 processes
starts in a few seconds, so the test suite runs the real thing; ``dask-jobqueue`` /
``dask-kubernetes`` reach SLURM/PBS/Kubernetes clusters with the same client code; and the job
is embarrassingly parallel (one file, one task), which needs no more than futures. Ray Data's
``map_batches`` with GPU actors would suit a GPU-batched decode better; on Dask the same is got by
giving each GPU worker ``resources={"GPU": 1}`` and one thread.

Files move by path or URI, never through the scheduler: every worker must see the inputs and
the output folder (a shared file system, or an fsspec URL such as s3://). Outputs are byte-
identical to the local command's, since the job bodies are the very same code.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path, PurePosixPath

from . import batch, container
from .errors import OutputError
from .workers import Outcome, WorkerDiedError, limit_threads, run_work, threads_per_worker

CLUSTER_HINT = "the cluster commands need the extra: pip install 'graycodec[cluster]'"


def _is_uri(path: str) -> bool:
    return "://" in path


def local_path(item: str) -> str:
    """``file://`` URIs as plain paths (so they take the local command's exact path); others as they are."""
    if item.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(item).path)
    return item


class FsspecStreams(batch.Streams):
    """batch.Streams for fsspec URIs as well as local paths (local ones exactly as the CLI does)."""

    def read(self, job: batch.Job) -> bytes:
        if not _is_uri(job.src):
            return super().read(job)
        import fsspec

        with fsspec.open(job.src, "rb") as f:
            return f.read()

    def read_gcz(self, job: batch.Job, max_pixels) -> bytes:
        if not _is_uri(job.src):
            return super().read_gcz(job, max_pixels)
        import fsspec

        with fsspec.open(job.src, "rb") as f:
            return container.read_stream(f, max_pixels=max_pixels)

    def write(self, job: batch.Job, data: bytes, force: bool) -> None:
        if not _is_uri(job.dest):
            return super().write(job, data, force)
        import fsspec

        fs, path = fsspec.core.url_to_fs(job.dest)
        if not force and fs.exists(path):
            raise OutputError(f"output {job.dest} exists (use --force to overwrite)")
        fs.pipe_file(path, data)


def plan(inputs, output: str, *, suffixes, out_suffix: str, warn=None) -> list[batch.Job]:
    """Jobs for local paths and folders (as ``batch.plan_jobs`` pairs them) and fsspec URIs
    (folders searched recursively for ``suffixes``); the results go to the folder ``output``."""
    inputs = [local_path(str(i)) for i in inputs]
    output = local_path(str(output))
    local = [i for i in inputs if not _is_uri(i)]
    jobs: list[batch.Job] = []
    if local and _is_uri(output):
        jobs += [batch.Job(src, _dest(output, rel.as_posix() if rel else Path(src).name, out_suffix), True)
                 for src, rel in batch.find_images(local, suffixes, warn)]
    elif local:  # exactly the local command's pairing (an output folder)
        jobs += batch.plan_jobs(local, output.rstrip("/") + "/", suffixes=suffixes, out_suffix=out_suffix,
                                default_dest=lambda p: p, warn=warn)
    for uri in (i for i in inputs if _is_uri(i)):
        jobs += _uri_jobs(uri, output, suffixes, out_suffix, warn)
    if not jobs:
        raise batch.ImageInputError(f"{', '.join(inputs)}: no input files found")
    return jobs


def _dest(output: str, rel: str, out_suffix: str) -> str:
    rel = str(PurePosixPath(rel).with_suffix(out_suffix))
    return f"{output.rstrip('/')}/{rel}" if _is_uri(output) else str(Path(output) / rel)


def _uri_jobs(uri: str, output: str, suffixes, out_suffix: str, warn) -> list[batch.Job]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    if not fs.isdir(root):
        return [batch.Job(uri, _dest(output, PurePosixPath(root).name, out_suffix), in_output_dir=True)]
    proto = uri.split("://", 1)[0]
    found = sorted(p for p in fs.find(root) if PurePosixPath(p).suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in PurePosixPath(p).relative_to(root).parts))
    if not found and warn:
        warn(f"{uri}: no {'/'.join(suffixes)} files in this folder")
    return [batch.Job(f"{proto}://{p}", _dest(output, str(PurePosixPath(p).relative_to(root)), out_suffix),
                      in_output_dir=True) for p in found]


# --- on the workers ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _body(spec_key: bytes, threads: int | None):
    """The job body of a spec, built once per worker process (its model loaded lazily, once);
    ``threads`` for the lightness coder and torch (None: the worker machine's defaults)."""
    import pickle

    if threads:
        limit_threads(threads)
    return pickle.loads(spec_key).build(FsspecStreams())


def run_one(spec_key: bytes, job: batch.Job, threads: int | None = None) -> Outcome:
    """One file on a Dask worker: the local command's job body, its error caught."""
    return run_work(_body(spec_key, threads), job)


# --- on the client -------------------------------------------------------------------------------
def connect(scheduler: str | None = None, local: int | None = None):
    """A Dask client: to ``scheduler`` (an address such as tcp://host:8786), else to a new local
    cluster of ``local`` worker processes (default: the usable cores) of one thread each, whose
    lightness coder and torch get cores // local threads (on a remote cluster: each machine's
    defaults; run one single-threaded Dask worker per core there, or set OMP_NUM_THREADS)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise batch.UsageError(CLUSTER_HINT) from None
    if scheduler:
        return Client(scheduler)
    from .workers import default_workers

    import logging

    cluster = LocalCluster(n_workers=local or default_workers(), threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    client.close_cluster = cluster.close
    client.graycodec_threads = threads_per_worker(local or default_workers())  # workers × threads ≤ cores
    return client


def outcomes(client, jobs: list[batch.Job], spec, prepare):
    """Yield (index, Outcome) in job order: outputs checked here in order, files coded on the cluster."""
    import pickle

    key = pickle.dumps(spec)
    futures = {}
    ready: dict[int, Outcome] = {}
    for k, job in enumerate(jobs):
        try:
            prepare(job)
        except Exception as exc:  # noqa: BLE001 - that file's error
            ready[k] = Outcome(False, error=exc)
            continue
        futures[k] = client.submit(run_one, key, job, getattr(client, "graycodec_threads", None), pure=False,
                                   key=f"graycodec-{k}-{os.urandom(4).hex()}")
    try:
        for k in range(len(jobs)):
            if k in ready:
                yield k, ready.pop(k)
                continue
            try:
                yield k, futures.pop(k).result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and the like: this file's error
                yield k, Outcome(False, error=WorkerDiedError(f"the cluster could not code this file "
                                                              f"({type(exc).__name__}: {exc})"))
    finally:
        for fut in futures.values():
            fut.cancel()


def run(command: str, jobs: list[batch.Job], spec, *, client, force: bool = False, on_error=None,
        progress=None) -> batch.BatchReport:
    """The batch on the cluster of ``client``; the report of the local command."""
    claimed: set = set()

    def prepare(job):
        if not _is_uri(job.dest):
            batch.prepare_output(job, force, claimed)
        elif job.dest in claimed:
            raise OutputError(f"output {job.dest} is also the output of another input")
        else:
            claimed.add(job.dest)

    return batch.collect(command, jobs, outcomes(client, jobs, spec, prepare), on_error=on_error, progress=progress)
