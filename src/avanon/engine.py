"""Where the pieces of a run execute: local worker processes, or a Ray cluster.

A folder run (:mod:`avanon.batch`) has one piece per file, a split run (:mod:`avanon.segments`)
one per segment of a long file. Either way a piece is a call ``fn(config, *args)`` of a
module-level function, run in a worker process, and an engine yields each piece's outcome as
it finishes: the function's return value, or :class:`WorkerLost` when the process running it
died (killed, out of memory, a node gone) more often than the engine retries.

Pieces write their outputs to temporary files only (renamed into place by the piece, or joined
by the driver), so running a piece again after its worker died is always safe, and a piece that
is lost never leaves a partial output at its destination.

* :class:`LocalEngine`: ``jobs`` processes on this machine (started by a fork server: forking a
  process whose onnxruntime or encoder threads may hold locks can hang the child).
* :class:`RayEngine`: tasks on a Ray cluster (``pip install 'avanon[ray]'``); without an address
  a local Ray instance starts and stops with the run. The driver fetches the models once and
  puts them in Ray's object store; each node writes them to its own folder once. Inputs and
  outputs are read and written at the same paths on every node: a cluster needs them on a
  shared file system.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import queue
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Sequence

from .errors import ConfigError

__all__ = ["LocalEngine", "ProgressPump", "RayEngine", "WorkerLost", "report"]


class WorkerLost(Exception):
    """The process running a piece died (every attempt)."""


#: Where a local worker reports progress (set in each worker process by :class:`LocalEngine`).
_EVENTS = None


def _init_local(events) -> None:
    global _EVENTS
    _EVENTS = events


def report(k: int, frames: int) -> None:
    """From inside a piece: piece ``k`` has done ``frames`` frames (shown by the driver where
    the engine carries progress; a no-op elsewhere)."""
    if _EVENTS is not None:
        _EVENTS.put((k, frames))


class ProgressPump:
    """While a run's pieces work (a ``with`` block): the frame counts workers put on ``events``
    with :func:`report` go into ``done`` (piece -> frames, never lowered), and ``emit()`` is
    called every ``interval`` seconds. On leaving, what the workers said last is read and, when
    the block ended without an error, ``emit()`` is called once more.

    ``events`` None (Ray: progress comes with each finished piece, which the caller puts in
    ``done``) or ``emit`` None are both fine.
    """

    def __init__(self, events, done: dict[int, int], emit: Callable[[], None] | None,
                 interval: float = 0.2):
        self.events, self.done, self.emit, self.interval = events, done, emit, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="avanon-progress", daemon=True)

    def _take(self, timeout: float | None) -> bool:
        try:
            k, n = (self.events.get(timeout=timeout) if timeout
                    else self.events.get_nowait())
        except queue.Empty:
            return False
        self.done[k] = max(n, self.done.get(k, 0))
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.events is not None:
                self._take(self.interval)
            else:
                self._stop.wait(self.interval)
            if self.emit is not None:
                self.emit()

    def __enter__(self) -> "ProgressPump":
        self._thread.start()
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self._stop.set()
        self._thread.join()
        while self.events is not None and self._take(None):
            pass  # what the workers said last (and nothing left for the next run)
        if self.emit is not None and exc_type is None:
            self.emit()


def _threads(slots: int, cores: int | None = None) -> int:
    """Threads for each piece's inference and encoder: the cores shared by the pieces."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, slots))


def with_threads(config, threads: int):
    """``config`` with ``threads`` inference and encoder threads where it names no count."""
    if not config.detect.threads:
        config = dataclasses.replace(config, detect=dataclasses.replace(config.detect,
                                                                        threads=threads))
    if not config.encode.threads:
        config = dataclasses.replace(config, encode=dataclasses.replace(config.encode,
                                                                        threads=threads))
    return config


def fetch_models(config) -> dict[str, Path]:
    """Fetch (once, here) the models ``config`` needs, so that workers never race for them."""
    from .detect.store import ensure_models

    return ensure_models(config.detect.model_names(), config.detect.model_dir)


class LocalEngine:
    """``jobs`` worker processes on this machine.

    A worker that dies breaks Python's process pool for every piece in flight, and which one
    killed it cannot be told: the pool is started again and each unfinished piece is run again,
    up to ``retries`` times, before it is reported lost.
    """

    name = "local"

    def __init__(self, jobs: int = 1, *, retries: int = 1, threads: int | None = None):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ConfigError(f"jobs: expected an integer >= 1, got {jobs!r}")
        self.slots = jobs
        self.retries = retries
        #: threads per piece: the cores shared by the pieces unless given
        self.threads = threads or _threads(jobs)
        self._ctx = multiprocessing.get_context("forkserver")
        from multiprocessing.reduction import ForkingPickler

        from .config import _pickle_mappingproxy

        ForkingPickler.register(MappingProxyType, _pickle_mappingproxy)

        #: progress the workers put with :func:`report`, for the driver to read
        self.events = self._ctx.Queue()

    def prepare(self, config, *, models: bool = True):
        """``config`` as the workers get it: threads shared out; models fetched here first."""
        config = with_threads(config, self.threads)
        if models:
            fetch_models(config)
        return config

    def run(self, fn: Callable, config, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(k, fn(config, *items[k]))`` as pieces finish (a :class:`WorkerLost` in
        place of the value when its worker died every time)."""
        attempts = [0] * len(items)
        todo = list(range(len(items)))
        while todo:
            broken: list[int] = []
            workers = min(self.slots, len(todo))
            with ProcessPoolExecutor(max_workers=workers, mp_context=self._ctx,
                                     initializer=_init_local, initargs=(self.events,)) as pool:
                futures = {pool.submit(fn, config, *items[k]): k for k in todo}
                try:
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            k = futures[fut]
                            try:
                                value = fut.result()
                            except BrokenProcessPool:
                                broken.append(k)
                                continue
                            yield k, value
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
            todo = []
            for k in sorted(broken):
                attempts[k] += 1
                if attempts[k] > self.retries:
                    yield k, WorkerLost("its worker process died (killed or out of memory)")
                else:
                    todo.append(k)

    def close(self) -> None:
        pass


class _Models:
    """The model files a run needs, in Ray's object store, and the way back to a folder."""

    def __init__(self, paths: dict[str, Path]):
        import ray

        from .detect.store import MANIFEST

        self.files: dict[str, Any] = {}
        folder = None
        digest = hashlib.sha256()
        for path in sorted(paths.values()):
            data = path.read_bytes()
            digest.update(path.name.encode() + hashlib.sha256(data).digest())
            self.files[path.name] = ray.put(data)
            folder = path.parent
        manifest = folder / MANIFEST if folder is not None else None
        if manifest is not None and manifest.is_file():
            data = manifest.read_bytes()
            digest.update(data)
            self.files[MANIFEST] = ray.put(data)
        self.key = digest.hexdigest()[:16]

    def folder(self) -> Path:
        """The models in a folder of this node (written once per node, atomically)."""
        import ray

        root = Path(tempfile.gettempdir()) / "avanon-ray-models" / self.key
        done = root / ".complete"
        if not done.exists():
            root.mkdir(parents=True, exist_ok=True)
            for name, ref in self.files.items():
                tmp = root / f".{name}.{os.getpid()}"
                tmp.write_bytes(ray.get(ref))
                os.replace(tmp, root / name)
            done.touch()
        return root


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` or ``ray://host:port`` address (Ray
    itself retries an unreachable head for minutes). ``auto`` and other forms are left to Ray.

    Raises:
        ConfigError: the connection was refused or timed out.
    """
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"engine ray: no Ray cluster at {address} "
                          f"({exc.strerror or type(exc).__name__})") from None


def _ray_piece(fn: Callable, models: _Models | None, config, *args):
    """One piece on a Ray worker: the models from the object store, then ``fn``."""
    if models is not None:
        folder = models.folder()
        config = dataclasses.replace(config, detect=dataclasses.replace(config.detect,
                                                                        model_dir=str(folder)))
    return fn(config, *args)


class RayEngine:
    """Pieces as Ray tasks, each asking for as many CPUs as it runs threads.

    Args:
        address: a running cluster (``ray://host:10001``, ``host:6379`` or ``auto``); None
            starts a local Ray instance for the run and stops it after.
        threads: inference and encoder threads per piece, and the CPUs each task asks Ray for
            (default 1: as many pieces at once as the cluster has CPUs, which uses the cores
            best; the config's own thread counts, when it names them, still apply inside).
        retries: times a piece whose worker died is run again before it is reported lost.
        cpus: CPUs of the local instance (None: all of this machine's).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, threads: int | None = None,
                 retries: int = 2, cpus: int | None = None, runtime_env: dict | None = None):
        try:
            import ray
        except ImportError:
            raise ConfigError("engine ray: Ray is not installed (pip install 'avanon[ray]')") \
                from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            if address:
                _reachable(address)
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                          configure_logging=False)
            if address is None:
                kwargs["num_cpus"] = cpus or os.cpu_count() or 1
            if runtime_env:
                kwargs["runtime_env"] = runtime_env
            try:
                ray.init(address=address, **kwargs)
            except Exception as exc:  # no cluster there, or it refused us
                raise ConfigError(f"engine ray: cannot start or reach Ray"
                                  f"{' at ' + address if address else ''}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                  ) from exc
            self._owned = True
        total = int(ray.cluster_resources().get("CPU", 1)) or 1
        self.threads = threads or 1
        self.slots = max(1, total // self.threads)
        self.retries = retries
        self._models: _Models | None = None

    #: no progress from inside a piece: it comes with each finished piece
    events = None

    def prepare(self, config, *, models: bool = True):
        """Fetch the models here once and put them in the object store for the workers."""
        config = with_threads(config, self.threads)
        if models:
            self._models = _Models(fetch_models(config))
        return config

    def run(self, fn: Callable, config, items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """As :meth:`LocalEngine.run`: an error raised by a piece is raised here; a worker
        that died is retried by Ray, then its piece yields :class:`WorkerLost`."""
        ray = self._ray
        task = ray.remote(_ray_piece).options(num_cpus=self.threads, max_retries=self.retries,
                                              retry_exceptions=False)
        refs = {task.remote(fn, self._models, config, *item): k for k, item in enumerate(items)}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    k = refs.pop(ref)
                    try:
                        value = ray.get(ref)
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.OutOfMemoryError) as exc:
                        value = WorkerLost(f"its Ray worker died ({type(exc).__name__})")
                    except ray.exceptions.RayTaskError as exc:
                        # the piece itself raised: the same error as on local processes
                        cause = exc.cause
                        if isinstance(cause, Exception):
                            raise cause from None
                        raise
                    yield k, value
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False
