"""Where the output goes: checks before a run, the temporary file beside the destination, and
publishing it under the destination's name when it is complete.

Rules (the README's "Output files"):

- Only regular files are written (``-`` streams to stdout). An existing FIFO, device node or
  socket is refused even with overwrite, so ``-y`` never turns ``/dev/sdb`` or a named pipe into
  a regular file; ``/dev/null`` is a device too (write ``-`` and redirect it instead).
- The output is written to a hidden temporary file in the destination's folder and renamed over
  the destination only when complete; a failed or interrupted run removes it.
- A new output gets the mode a new file gets from the umask (``0666 & ~umask``, usually 0644),
  like every tool that creates files; an output replacing a file with ``-y`` keeps that file's
  permission bits (what ffmpeg, ``cp`` and shell redirection do), so a file made private stays
  private.
- Messages name the destination, never the temporary file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..errors import AvanonError, OutputError

__all__ = ["check_destination", "check_sidecar", "is_stdout", "is_url", "name_output",
           "new_file_mode", "publish", "temp_beside"]

def is_url(name) -> bool:
    """True for a URL or pipe (``https://...``, ``pipe:0``) rather than a file path."""
    return "://" in str(name) or str(name).startswith("pipe:")


def is_stdout(name) -> bool:
    """True when an output name means standard output (``-``, ``pipe:1``, ``pipe:``)."""
    return str(name) in ("-", "pipe:1", "pipe:")


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str | None:
    """What a non-regular, non-directory file is, or None for a regular file or a folder."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_folder(folder: Path, what: str, path) -> None:
    if not folder.exists():
        raise OutputError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{what} folder {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable (permission denied)")


def check_destination(src, dst, *, overwrite: bool, src_is_url: bool) -> None:
    """Refuse a destination that cannot or must not be written, before anything runs.

    Raises:
        OutputError: ``dst`` is the input, a folder, not a regular file, exists without
            ``overwrite``, or its folder is missing or not writable.
    """
    src_path, dst_path = Path(src), Path(dst)
    if not src_is_url and (src_path.resolve() == dst_path.resolve() or _same_file(src_path, dst_path)):
        raise OutputError(f"output {dst} is the input: choose another output path")
    try:
        mode = os.stat(dst_path).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"output {dst} is a directory: give a file name")
    if mode is not None and _kind(mode):
        hint = ("write to '-' (with --format) and redirect stdout to it"
                if _same_file(dst_path, Path(os.devnull)) else
                "avanon writes regular files only; for a stream use '-' (stdout)")
        raise OutputError(f"output {dst} is {_kind(mode)}, not a regular file: {hint}")
    if mode is not None and not overwrite:
        raise OutputError(f"output {dst} exists: pass -y to overwrite")
    _check_folder(dst_path.parent, "output", dst)


def check_sidecar(path, *, src, dst) -> None:
    """Refuse a detections file that cannot be written, before anything runs (it is written
    beside itself and renamed when complete, like the output).

    Raises:
        OutputError: it is the input or the output, a folder or not a regular file, or its
            folder is missing or not writable.
    """
    p = Path(path)
    for other, what in ((src, "input"), (dst, "output")):
        if other is not None and (p.resolve() == Path(other).resolve() or _same_file(p, Path(other))):
            raise OutputError(f"detections file {path} is the {what}: choose another name")
    try:
        mode = os.stat(p).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"detections file {path} is a directory: give a file name")
    if mode is not None and _kind(mode):
        raise OutputError(f"detections file {path} is {_kind(mode)}, not a regular file")
    _check_folder(p.parent, "detections", path)


def temp_beside(dst: Path) -> str:
    """A new, empty hidden file in ``dst``'s folder with ``dst``'s extension (so the format
    guessed from it is the destination's)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.avanon-", suffix=dst.suffix,
                                    dir=dst.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    os.close(fd)
    return name


def new_file_mode() -> int:
    """The permission bits a file created now gets: ``0o666 & ~umask``."""
    try:  # Linux: read it without changing it (os.umask would, for every thread, for a moment)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def publish(tmp: str, dst: Path) -> None:
    """Give the finished temporary file its mode and rename it over ``dst`` (atomic)."""
    try:
        try:
            mode = stat.S_IMODE(os.stat(dst).st_mode) if dst.is_file() else new_file_mode()
        except OSError:
            mode = new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from exc


def name_output(exc: AvanonError, tmp: str, dst) -> AvanonError:
    """``exc`` with the temporary file's name replaced by the destination's in its message."""
    text = str(exc)
    named = text.replace(tmp, str(dst)).replace(Path(tmp).name, Path(dst).name)
    if named != text:
        exc.args = (named,)
    return exc
