"""Folders: ``avanon IN_DIR OUT_DIR`` anonymizes every video and photo of a tree into a mirror.

Files are classed by extension (:data:`VIDEO_EXTENSIONS`, :data:`~avanon.media.image.
IMAGE_EXTENSIONS`); anything else is skipped and listed. Each file runs in its own worker
process (``jobs`` at a time), with :func:`avanon.anonymize` or
:func:`~avanon.media.image.anonymize_image`, so one file's failure, crash or memory never
touches another's. A file fails alone: its one-line reason goes in the summary and the others
go on. Outputs are renamed into place only when complete, so with ``resume`` an output present
at its final name is complete and its input is not run again.

Threads: with ``jobs`` workers on a machine of C cores, each worker's onnxruntime and video
encoder get ``max(1, C // jobs)`` threads (unless the config names a count), so the jobs share
the cores instead of each one claiming all of them.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import Config
from .engine import LocalEngine, ProgressPump, WorkerLost, _threads
from .errors import AvanonError, ConfigError, OutputError
from .media.image import IMAGE_EXTENSIONS

__all__ = ["VIDEO_EXTENSIONS", "BatchProgress", "BatchSummary", "FileResult", "anonymize_folder",
           "plan_folder"]

#: Extensions treated as video (anything FFmpeg demuxes could be; these are the usual ones).
VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2v", ".vob", ".ts",
    ".m2ts", ".mts", ".flv", ".wmv", ".asf", ".3gp", ".3g2", ".ogv", ".mxf", ".dv", ".y4m",
    ".gif"})
_IMAGE = frozenset(e for exts in IMAGE_EXTENSIONS.values() for e in exts)


@dataclass(frozen=True)
class FileResult:
    """One file of a folder run: ``status`` is ok, failed, skipped or done (``resume``)."""

    src: str
    status: str
    reason: str = ""
    frames: int = 0


@dataclass
class BatchSummary:
    """What a folder run did."""

    results: list[FileResult] = field(default_factory=list)
    elapsed: float = 0.0

    def of(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failed(self) -> bool:
        return bool(self.of("failed"))

    def lines(self) -> list[str]:
        """The summary: one line of counts, then one line per failed and skipped file."""
        ok, failed, skipped, done = (self.of(s) for s in ("ok", "failed", "skipped", "done"))
        frames = sum(r.frames for r in ok)
        head = (f"avanon: {len(self.results)} files | {len(ok)} ok ({frames} frames) | "
                f"{len(failed)} failed | {len(skipped)} skipped"
                + (f" | {len(done)} already done" if done else "")
                + f" | {self.elapsed:.1f} s")
        return ([head] + [f"avanon: failed {r.src}: {r.reason}" for r in failed]
                + [f"avanon: skipped {r.src}: {r.reason}" for r in skipped])


@dataclass(frozen=True)
class BatchProgress:
    """Where a folder run stands (for a progress display)."""

    files_done: int
    files: int
    frames: int
    total_frames: int  # estimated from the containers
    elapsed: float


@dataclass(frozen=True)
class _Job:
    src: Path
    dst: Path
    rel: str
    kind: str  # "video" or "image"
    frames: int  # estimated


def _estimate_frames(path: Path) -> int:
    """The video's frame count as the container states it (or duration x rate); 0 if unknown."""
    import av

    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            if v.frames:
                return int(v.frames)
            rate = v.average_rate or v.guessed_rate
            if c.duration and rate:
                return int(c.duration / 1_000_000 * float(rate))
    except Exception:  # unreadable: the run will say why
        return 0
    return 0


def plan_folder(src_dir: str | os.PathLike, dst_dir: str | os.PathLike
                ) -> tuple[list[_Job], list[FileResult]]:
    """The jobs of a folder run (in path order) and the files skipped as not media.

    Hidden files (a leading dot: avanon's own temporary outputs among them) and ``dst_dir``,
    when it lies inside ``src_dir``, are not looked at.
    """
    src_dir, dst_dir = Path(src_dir).resolve(), Path(dst_dir).resolve()
    jobs, skipped = [], []
    for root, dirs, files in os.walk(src_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d) != dst_dir)
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            rel = str(path.relative_to(src_dir))
            ext = path.suffix.lower()
            if ext in VIDEO_EXTENSIONS:
                jobs.append(_Job(path, dst_dir / rel, rel, "video", _estimate_frames(path)))
            elif ext in _IMAGE:
                jobs.append(_Job(path, dst_dir / rel, rel, "image", 1))
            else:
                skipped.append(FileResult(rel, "skipped", "not a video or image"))
    return jobs, skipped


def _run_job(config: Config, k: int, job: _Job, overwrite: bool, detector) -> FileResult:
    """Anonymize one file in a worker; every error becomes the result's one-line reason."""
    from .engine import report
    from .media.image import anonymize_image
    from .pipeline import anonymize

    try:
        job.dst.parent.mkdir(parents=True, exist_ok=True)
        if job.kind == "image":
            summary = anonymize_image(job.src, job.dst, config, overwrite=overwrite,
                                      detector=detector)
        else:
            summary = anonymize(job.src, job.dst, config, overwrite=overwrite, detector=detector,
                                progress=lambda p: report(k, p.frames))
        report(k, summary.frames)
        return FileResult(job.rel, "ok", frames=summary.frames)
    except AvanonError as exc:
        return FileResult(job.rel, "failed", str(exc).splitlines()[0])
    except OSError as exc:
        return FileResult(job.rel, "failed", f"{exc.strerror or exc}")
    except Exception as exc:  # a bug: still this file only
        return FileResult(job.rel, "failed", f"internal error: {type(exc).__name__}: {exc}")


def _remove_leftovers(dst: Path) -> None:
    """Temporary outputs of ``dst`` left by a worker that died (no worker runs any more)."""
    try:
        for tmp in dst.parent.glob(f".{glob.escape(dst.stem)}.avanon-*{glob.escape(dst.suffix)}"):
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def anonymize_folder(
    src_dir: str | os.PathLike,
    dst_dir: str | os.PathLike,
    config: Config | None = None,
    *,
    jobs: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[BatchProgress], None] | None = None,
    detector=None,
    engine=None,
) -> BatchSummary:
    """Anonymize every video and photo under ``src_dir`` into the same tree under ``dst_dir``.

    Args:
        src_dir: the folder to read (never written to).
        dst_dir: the mirror to write (created when missing; its parent must exist).
        config: settings for every file (photos ignore the video-only ones).
        jobs: files processed at once, each in its own process.
        resume: skip files whose output is already there (complete: outputs are renamed
            into place only when complete).
        overwrite: replace existing outputs (otherwise such a file fails).
        progress: called about five times a second, and once at the end, with a
            :class:`BatchProgress`.
        detector: a detector replacing the configured ones for every file (each worker
            gets its own copy).
        engine: where the files run: an engine of :mod:`avanon.engine` (a Ray cluster...),
            closed by the caller; None runs ``jobs`` local processes. A file whose worker died
            is run again (the engine says how often) and then reported failed; its temporary
            output is removed.

    Returns:
        A :class:`BatchSummary`; a failed file never raises.

    Raises:
        ConfigError: bad ``jobs``.
        OutputError: ``dst_dir`` is ``src_dir``, is inside it as a file, or cannot be created.
    """
    t0 = time.perf_counter()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs: expected an integer >= 1, got {jobs!r}")
    src, dst = Path(src_dir), Path(dst_dir)
    if not src.is_dir():
        raise OutputError(f"input folder {src_dir} is not a folder")
    if dst.resolve() == src.resolve():
        raise OutputError(f"output folder {dst_dir} is the input folder: choose another one")
    if dst.exists() and not dst.is_dir():
        raise OutputError(f"output {dst_dir} is a file: a folder input needs an output folder")
    if not dst.parent.exists():
        raise OutputError(f"output folder {dst.parent} does not exist")
    config = config or Config()
    planned, results = plan_folder(src, dst)
    todo = []
    for job in planned:
        if resume and job.dst.exists():
            results.append(FileResult(job.rel, "done"))
        else:
            todo.append(job)
    try:
        dst.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {dst_dir}: {exc.strerror or exc}") from exc
    total = sum(j.frames for j in todo)
    own = engine is None
    if own:
        # threads shared by ``jobs`` (not fewer when the folder is small)
        engine = LocalEngine(min(jobs, max(1, len(todo))), threads=_threads(jobs))
    frames: dict[int, int] = {}
    finished: list[FileResult] = []

    def emit() -> None:
        progress(BatchProgress(len(finished), len(todo), sum(frames.values()), total,
                               time.perf_counter() - t0))

    try:
        config = engine.prepare(config, models=detector is None and bool(todo))
        items = [(k, job, overwrite, detector) for k, job in enumerate(todo)]
        with ProgressPump(engine.events, frames, emit if progress is not None else None):
            for k, value in engine.run(_run_job, config, items):
                if isinstance(value, WorkerLost):
                    _remove_leftovers(todo[k].dst)
                    value = FileResult(todo[k].rel, "failed", f"worker died: {value}")
                elif value.status == "ok":
                    frames[k] = value.frames
                finished.append(value)
    finally:
        if own:
            engine.close()
    order = {j.rel: i for i, j in enumerate(planned)}
    results = sorted(results + finished, key=lambda r: (order.get(r.src, len(order)), r.src))
    return BatchSummary(results, time.perf_counter() - t0)
