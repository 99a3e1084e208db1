"""Where the output goes (avanon.media.output through avanon.anonymize): only regular files,
checked before anything runs; the finished file gets the umask's mode; messages name the
destination, never the hidden temporary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import avanon
from avanon.mask.config import MaskConfig
from avanon.media.output import new_file_mode
from avanon.track.config import TrackConfig
from support import BoxDetector, moving_box, unwritable_folder


def run(src, dst, **kw):
    config = avanon.Config(mask=MaskConfig(mode="solid"), track=TrackConfig(enabled=False))
    return avanon.anonymize(src, dst, config, detector=BoxDetector(moving_box), **kw)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".avanon-" in p.name or p.suffix == ".part")


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.fixture
def readonly_folder(tmp_path):
    yield from unwritable_folder(tmp_path / "ro")


# -- modes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_new_output_gets_the_umask_mode(clips, tmp_path, umask, mask):
    umask(mask)
    dst = tmp_path / "out.mp4"
    run(clips["mp4"].path, dst)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o666 & ~mask
    assert new_file_mode() == 0o666 & ~mask


def test_overwritten_output_keeps_the_replaced_files_mode(clips, tmp_path, umask):
    umask(0o022)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")
    dst.chmod(0o640)
    run(clips["mp4"].path, dst, overwrite=True)
    assert dst.read_bytes() != b"old"
    assert stat.S_IMODE(dst.stat().st_mode) == 0o640


def test_detections_file_gets_the_umask_mode(clips, tmp_path, umask):
    umask(0o027)
    run(clips["mp4"].path, tmp_path / "out.mkv", export_detections=tmp_path / "d.json")
    assert stat.S_IMODE((tmp_path / "d.json").stat().st_mode) == 0o640


# -- what is refused, before anything runs ---------------------------------------------------

def test_fifo_is_refused_even_with_overwrite(clips, tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(avanon.OutputError, match=r"pipe\.mp4 is a FIFO \(named pipe\), not a "
                                                 r"regular file: .*'-' \(stdout\)"):
        run(clips["mp4"].path, fifo, overwrite=True)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert leftovers(tmp_path) == []


def test_dev_null_is_refused_with_a_hint(clips):
    if not os.path.exists(os.devnull) or not stat.S_ISCHR(os.stat(os.devnull).st_mode):
        pytest.skip(f"{os.devnull} is not a character device here")
    with pytest.raises(avanon.OutputError, match="is a character device, not a regular file: "
                                                 "write to '-' .* redirect"):
        run(clips["mp4"].path, os.devnull, overwrite=True)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_unwritable_folder_is_one_error_naming_the_output(clips, readonly_folder):
    dst = readonly_folder / "out.mp4"
    with pytest.raises(avanon.OutputError, match=f"cannot write {dst}: .*permission denied"):
        run(clips["mp4"].path, dst)
    assert list(readonly_folder.iterdir()) == []


def test_a_folder_the_file_system_refuses_late_is_one_error_naming_the_output(clips, tmp_path,
                                                                               monkeypatch):
    """Permission checks can pass where the file system still refuses (root on a read-only
    mount, ACLs, quotas): the temporary file's creation fails, and the message names OUT."""
    import tempfile

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    dst = tmp_path / "out.mp4"
    with pytest.raises(avanon.OutputError, match=f"^cannot write {dst}: Permission denied$"):
        run(clips["mp4"].path, dst)


@pytest.mark.parametrize(
    "name, message",
    [
        ("nodir/x.json", "detections folder {d}/nodir does not exist"),
        ("clip.mp4/x.json", "detections folder {d}/clip.mp4 is not a folder"),
        ("boxes", "detections file {d}/boxes is a directory"),
        ("out.mp4", "detections file {d}/out.mp4 is the output"),
    ],
)
def test_detections_file_that_cannot_be_written_is_refused_before_the_run(clips, tmp_path,
                                                                          name, message):
    (tmp_path / "clip.mp4").write_bytes(b"a file, not a folder")
    (tmp_path / "boxes").mkdir()
    calls = []

    class Counting(BoxDetector):
        def detect(self, frames, indices):
            calls.append(indices)
            return super().detect(frames, indices)

    dst = tmp_path / "out.mp4"
    with pytest.raises(avanon.OutputError, match=message.format(d=tmp_path)):
        avanon.anonymize(clips["mp4"].path, dst, detector=Counting(moving_box),
                         export_detections=tmp_path / name)
    assert calls == [] and not dst.exists() and leftovers(tmp_path) == []
    assert not (tmp_path / "nodir").exists()


def test_unknown_extension_names_the_output_not_the_temporary_file(clips, tmp_path):
    dst = tmp_path / "out.xyz"
    with pytest.raises(avanon.OutputError) as err:
        run(clips["mp4"].path, dst)
    assert str(err.value) == (f"cannot write {dst}: no output format for the extension '.xyz' "
                              "(name one with --format)")
    assert leftovers(tmp_path) == []


def test_late_failure_messages_name_the_output(clips, tmp_path, monkeypatch):
    """An error raised while the temporary file is written names the destination."""
    from avanon.media.sink import MediaSink

    def broken(self):
        raise avanon.PipelineError(f"cannot finish {self.out.name}: disk full")

    monkeypatch.setattr(MediaSink, "finish", broken)
    dst = tmp_path / "out.mp4"
    with pytest.raises(avanon.PipelineError) as err:
        run(clips["mp4"].path, dst)
    assert str(err.value) == f"cannot finish {dst}: disk full"
    assert leftovers(tmp_path) == []


def test_a_muxer_that_needs_seeking_says_so_on_stdout(clips, monkeypatch):
    """MP4 on stdout is written fragmented; without that (or for another muxer that must seek
    back) the one error says why and what to use instead."""
    from avanon.media import sink

    monkeypatch.setattr(sink, "FRAGMENTED", ())
    with pytest.raises(avanon.OutputError, match="cannot write mp4 to stdout: the mp4 muxer needs "
                                                 "a seekable output; write to a file, or use "
                                                 "--format matroska or mpegts for stdout"):
        run(clips["mp4"].path, "-", format_name="mp4")
