"""Model artifacts on disk: ``models/<version>.joblib`` (zlib-compressed) with a metadata sidecar
``models/<version>.json``; ``models/DEFAULT`` names the default.

Loading checks the scikit-learn version recorded in the sidecar *before* unpickling, so an
incompatible artifact fails with a clear message instead of a pickle error or silent drift.
Only load artifacts you trust: joblib files can execute code when loaded.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderator.config import PROJECT_ROOT, env_value

if TYPE_CHECKING:  # pragma: no cover
    from moderator.model.classifier import ModerationModel

MODELS_DIR = PROJECT_ROOT / "models"
FORMAT_VERSION = 3  # bump whenever the pickled layout changes: older artifacts then fail with a clear error


class ModelLoadError(RuntimeError):
    """The artifact is missing, corrupt, or was built with an incompatible library version."""


def save_model(model: ModerationModel, directory: str | Path, make_default: bool = True) -> Path:
    """Write ``<version>.joblib`` and ``<version>.json`` into ``directory``; optionally mark it default."""
    import joblib

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model.version}.joblib"
    tmp = path.with_suffix(".joblib.tmp")
    # The model is pickled with the C pickler and stored as one bytes payload: joblib's own unpickler is
    # pure Python and takes seconds on the vectorizers' large vocabulary dicts; this loads in well under 2 s.
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    joblib.dump({"format": FORMAT_VERSION, "version": model.version, "payload": payload}, tmp,
                compress=("zlib", 9))  # zlib: ~0.1 s to decompress (xz: ~1 s)
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(model.metadata, indent=2, sort_keys=True) + "\n")
    if make_default:
        set_default(directory, model.version)
    return path


def set_default(directory: str | Path, version: str) -> None:
    """Point ``directory/DEFAULT`` at ``version`` atomically."""
    directory = Path(directory)
    if not (directory / f"{version}.joblib").is_file():
        raise ModelLoadError(f"no model {version!r} in {directory}")
    tmp = directory / "DEFAULT.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, directory / "DEFAULT")


def default_version(directory: str | Path = MODELS_DIR) -> str:
    """The version ``directory/DEFAULT`` names. It must be a plain file name whose artifact, symlinks
    resolved, lies inside ``directory``: the marker can never make the service load a file from elsewhere."""
    directory = Path(directory)
    marker = directory / "DEFAULT"
    if not marker.is_file():
        raise ModelLoadError(f"no default model: {marker} is missing (train one with `moderator train`)")
    try:
        version = marker.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise ModelLoadError(f"{marker} is not UTF-8 text: it must hold a model version") from None
    if (not version or version in (".", "..") or Path(version).name != version or "\\" in version
            or not version.isprintable()):
        raise ModelLoadError(f"{marker} must name a model in {directory} by its version (a plain file name "
                             f"such as 0.1.0-7f8274b202), not {version[:100]!r}")
    artifact = directory / f"{version}.joblib"
    if artifact.exists() and not artifact.resolve().is_relative_to(directory.resolve()):
        raise ModelLoadError(f"{marker} names {artifact}, which resolves outside {directory} "
                             f"({artifact.resolve()}): refused")
    return version


def default_model_path(directory: str | Path = MODELS_DIR) -> Path:
    return Path(directory) / f"{default_version(directory)}.joblib"


def _check_versions(meta: dict[str, Any], path: Path) -> None:
    import sklearn

    built = meta.get("library_versions", {}).get("scikit-learn")
    if built is None:
        return
    if built.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelLoadError(
            f"{path.name} was built with scikit-learn {built}, but {sklearn.__version__} is installed: "
            f"install scikit-learn=={built} or retrain with `moderator train`"
        )


# A pickle names each class by the module it was defined in when the artifact was written. Artifacts from
# before the package layout use the flat module paths; later ones may name moderator.model.classifier for
# the pipeline steps that now live in moderator.model.pipeline.
_LEGACY_MODULES = {
    "moderator.classifier": "moderator.model.classifier",
    "moderator.features": "moderator.model.features",
    "moderator.lexicon": "moderator.model.lexicon",
    "moderator.encoder": "moderator.model.encoder",
}
_MOVED = {("moderator.model.classifier", name): "moderator.model.pipeline"
          for name in ("NormalizeText", "LexiconCounts", "_split_space")}


class _ArtifactUnpickler(pickle.Unpickler):
    """Unpickles a model payload, resolving the module paths older artifacts were written with."""

    def find_class(self, module: str, name: str) -> Any:
        module = _LEGACY_MODULES.get(module, module)
        return super().find_class(_MOVED.get((module, name), module), name)


def load_model(path: str | os.PathLike[str] | None = None) -> ModerationModel:
    """Load ``path``, else ``$MODERATOR_MODEL``, else ``models/DEFAULT``'s model."""
    import joblib

    chosen = path or env_value("model") or None
    p = Path(chosen) if chosen else default_model_path()
    if p.is_dir():
        p = default_model_path(p)
    if not p.is_file():
        raise ModelLoadError(f"model file not found: {p}")
    sidecar = p.with_suffix(".json")
    if sidecar.is_file():
        _check_versions(json.loads(sidecar.read_text()), p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=UserWarning)  # sklearn's InconsistentVersionWarning
            blob = joblib.load(p)
    except ModelLoadError:
        raise
    except Exception as exc:  # corrupt file, or a library version the sidecar did not mention
        raise ModelLoadError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION or "payload" not in blob:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ModelLoadError(f"{p} is not a moderator model artifact of format {FORMAT_VERSION} (found {found}): "
                             "retrain it with `moderator train`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=UserWarning)
            model: ModerationModel = _ArtifactUnpickler(io.BytesIO(blob["payload"])).load()
        model.predict_proba(["warm-up"])  # builds the per-process caches now, not on the first request
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    return model
