"""``lightops package``: a pip-installable DCASE 2025 Task 1 submission package from a checkpoint.

The package (``DIR`` below) holds::

    DIR/pyproject.toml                 setuptools; depends on lightops
    DIR/complexity.json                lightops complexity of every model, at the packaged dtype
    DIR/NAME/__init__.py               load_model, load_inputs, get_model_for_device, predict
    DIR/NAME/ckpts/model.pt            the general model and the device models, floating tensors at the dtype
    DIR/NAME/resources/dummy.wav       one clip of noise at the model's sample rate
    DIR/NAME/resources/test.csv        filename and device_id of the dummy clip
    DIR/NAME/resources/complexity.json the same counts, shipped with the package

``pip install DIR`` installs it; ``NAME.predict(file_paths, device_ids)`` returns one logit tensor per file and the
class order (:class:`~lightops.deploy.submission.SubmissionModel`). The package is written into a temporary folder
next to ``DIR`` and renamed onto it once complete, so ``DIR`` is either the whole package or absent.
"""
import keyword
import os
import re
import shutil
import tempfile
from typing import Any, Dict

import numpy as np

import lightops

from ..checkpoint import CHECKPOINT_KEYS, DEVICE_KEYS, read_checkpoint, save_checkpoint
from ..fileio import PathLike, atomic_write, atomic_write_json
from ..profiling.dcase import dcase_report
from .package_template import INIT_PY, PYPROJECT_TOML
from .submission import DTYPES, SubmissionModel, state_at_dtype

__all__ = ["build_package", "packaged_checkpoint"]

_KEEP = ("model", "model_kwargs", "architecture", "state_dict", "frontend", "classes", "input_size", "clip_seconds",
         "train_devices", "versions")


def packaged_checkpoint(ckpt: Dict[str, Any], dtype: str) -> Dict[str, Any]:
    """The keys of ``ckpt`` inference needs, weights (general and device models) at ``dtype``."""
    out = {k: ckpt[k] for k in _KEEP if k in ckpt and k in CHECKPOINT_KEYS}
    out["state_dict"] = state_at_dtype(ckpt["state_dict"], dtype)
    if ckpt.get("device_models"):
        out["device_models"] = {d: state_at_dtype(s, dtype) for d, s in ckpt["device_models"].items()}
    assert all(k in CHECKPOINT_KEYS or k in DEVICE_KEYS for k in out)
    return out


def _check_name(name: str) -> str:
    if (not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or name == "lightops"
            or keyword.iskeyword(name)):
        raise ValueError(f"--name must be a Python package name (letters, digits, underscores, not starting with a "
                         f"digit or underscore, not a Python keyword, not 'lightops'), got {name!r}")
    return name


def _check_version(version: str) -> str:
    """``version`` if pip can install it: a PEP 440 version such as 0.1.0 or 1.0rc1."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # packaging is not a dependency: the public version scheme's common forms
        ok = isinstance(version, str) and re.fullmatch(r"v?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?",
                                                        version.strip()) is not None
    else:
        try:
            ok = isinstance(version, str) and Version(version) is not None
        except InvalidVersion:
            ok = False
    if not ok:
        raise ValueError(f"--version must be a PEP 440 version such as 0.1.0 or 1.0rc1, got {version!r}")
    return version.strip()


def _resources(folder: str, model: SubmissionModel) -> None:
    """``dummy.wav`` (one clip of quiet noise) and ``test.csv`` (its file name and a device id)."""
    import soundfile as sf

    os.makedirs(folder)
    noise = (0.05 * np.random.default_rng(0).standard_normal(model.clip_samples)).astype(np.float32)
    with atomic_write(os.path.join(folder, "dummy.wav")) as fh:
        sf.write(fh, noise, model.sample_rate, format="WAV", subtype="PCM_16")
    device = next(iter(model.device_models), "a")
    with atomic_write(os.path.join(folder, "test.csv"), "w") as fh:
        fh.write(f"filename\tdevice_id\ndummy.wav\t{device}\n")


def build_package(checkpoint: PathLike, name: str, out: PathLike, *, dtype: str = "fp16", version: str = "0.1.0",
                  overwrite: bool = False, trusted: bool = False) -> Dict[str, Any]:
    """Write the submission package of ``checkpoint`` (a ``train`` or ``finetune`` checkpoint) to ``out``.

    Args:
        checkpoint: the checkpoint.
        name: the package's import name (and distribution name).
        out: the package's folder (must not exist unless ``overwrite``).
        dtype: ``"fp16"`` or ``"fp32"``: the dtype the parameters are stored and counted at.
        version: the package's version.
        overwrite: replace ``out`` if it exists.
        trusted: see :func:`lightops.checkpoint.read_checkpoint`.

    Returns:
        The complexity report written to ``complexity.json`` (:func:`~lightops.profiling.dcase.dcase_report`).

    Raises:
        ValueError: a bad name, version or dtype, not a checkpoint, an int8 checkpoint (lightops quantize), ``out``
            holding the checkpoint.
        FileExistsError: ``out`` exists and ``overwrite`` is not set.
    """
    name, version = _check_name(name), _check_version(version)
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {list(DTYPES)}, got {dtype!r}")
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if os.path.exists(out) and os.path.realpath(checkpoint).startswith(os.path.join(os.path.realpath(out), "")):
        raise ValueError(f"--out {out} holds the checkpoint {os.fspath(checkpoint)}: give another folder")
    ckpt = read_checkpoint(checkpoint, trusted=trusted)
    if ckpt.get("quantized"):
        raise ValueError(f"{os.fspath(checkpoint)} holds an int8 model (lightops quantize): a package ships the float "
                         f"model at fp16 or fp32; package the float checkpoint it was quantized from")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=os.path.dirname(out))
    try:
        pkg = os.path.join(tmp, name)
        os.makedirs(os.path.join(pkg, "ckpts"))
        model_file = os.path.join(pkg, "ckpts", "model.pt")
        save_checkpoint(packaged_checkpoint(ckpt, dtype), model_file)
        model = SubmissionModel.load(model_file)
        models = {"general": model.general, **{d: m for d, m in model.device_models.items()}}
        report = dcase_report(models, model.input_size, source=f"{name} ({os.fspath(checkpoint)})")
        _resources(os.path.join(pkg, "resources"), model)
        fields = dict(name=name, model=ckpt["model"], dtype=dtype, version=version,
                      lightops_version=lightops.__version__)
        with atomic_write(os.path.join(pkg, "__init__.py"), "w") as fh:
            fh.write(INIT_PY.substitute(fields))
        with atomic_write(os.path.join(tmp, "pyproject.toml"), "w") as fh:
            fh.write(PYPROJECT_TOML.substitute(fields))
        for path in (os.path.join(tmp, "complexity.json"), os.path.join(pkg, "resources", "complexity.json")):
            atomic_write_json(report, path)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(out, 0o755 & ~_umask())
    return report


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
