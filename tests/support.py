"""Test helpers shared by the test modules: real-media lookup, detectors with known boxes, an
image detector that finds red and an unwritable folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avanon.detections import Detections

SHARED_MEDIA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "media").resolve()


def shared_media() -> Path:
    """../shared/media, or skip the test with the reason."""
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"real media folder {SHARED_MEDIA} is absent (only in the project's dev/CI checkout)")
    return SHARED_MEDIA


class BoxDetector:
    """A FrameDetector that reports ``boxes(index)`` for frame ``index`` (coded coordinates)."""

    def __init__(self, boxes, class_id: int = 0, skip=()):
        self.boxes = boxes
        self.class_id = class_id
        self.skip = set(skip)
        self.calls: list[int] = []

    def detect(self, frames, indices):
        out = []
        for f, i in zip(frames, indices):
            self.calls.append(i)
            b = [] if i in self.skip else self.boxes(i)
            out.append(Detections.from_boxes(np.asarray(b, np.float32).reshape(-1, 4),
                                             class_ids=self.class_id, frame_index=i, pts=f.pts))
        return out


class KillingDetector(BoxDetector):
    """A BoxDetector whose process is killed (SIGKILL, as by the kernel's OOM killer) when it
    reaches frame ``kill_at``: every time with ``always``, else only the first time (``marker``
    records that it happened, across processes)."""

    def __init__(self, boxes, kill_at: int, marker: str | os.PathLike, always: bool = False):
        super().__init__(boxes)
        self.kill_at = kill_at
        self.marker = str(marker)
        self.always = always

    def detect(self, frames, indices):
        import signal

        if self.kill_at in indices:
            try:  # only the first process to get here dies (unless always)
                fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                             | (0 if self.always else os.O_EXCL))
            except FileExistsError:
                fd = None
            if fd is not None:
                os.write(fd, f"{os.getpid()}\n".encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return super().detect(frames, indices)


class FailingDetector(BoxDetector):
    """A BoxDetector that raises on frame ``fail_at`` (a stage failure, not a lost worker)."""

    def __init__(self, boxes, fail_at: int):
        super().__init__(boxes)
        self.fail_at = fail_at

    def detect(self, frames, indices):
        if self.fail_at in indices:
            raise RuntimeError(f"detector broke on frame {self.fail_at}")
        return super().detect(frames, indices)


def moving_box(i: int) -> list[list[float]]:
    """A box that moves 2 px per frame; stays inside a 96x64 frame for 30 frames."""
    return [[8 + 2 * i, 12, 30 + 2 * i, 40]]


def unwritable_folder(path: Path):
    """A folder this process cannot create files in: mode 0555, and immutable (chattr +i) when
    running as root, which ignores modes. Yields the folder, or skips where neither works."""
    path.mkdir()
    path.chmod(0o555)
    immutable = False
    try:
        if os.access(path, os.W_OK):
            try:
                r = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            except OSError:
                r = None
            immutable = r is not None and r.returncode == 0
            if os.access(path, os.W_OK):
                pytest.skip("running as root where chattr +i is unavailable: no folder is unwritable")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o755)


class RedFinder:
    """Reports the bounding box of the red pixels of each image as one object of ``cls``."""

    def __init__(self, cls: str = "face", score: float = 0.9):
        self.classes = (cls,)
        self.cid = ("face", "plate").index(cls)
        self.score = score
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, images):
        self.shapes.append(images.shape)
        out = []
        for img in images:
            red = (img[..., 0] > 128) & (img[..., 1] < 100)
            ys, xs = np.nonzero(red)
            if len(xs):
                box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
                out.append(Detections.from_boxes(box, [self.score], self.cid))
            else:
                out.append(Detections.empty())
        return out
