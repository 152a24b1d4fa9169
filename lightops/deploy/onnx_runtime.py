"""onnxruntime, the runtime a deployed model runs in: sessions, metadata, and runs over batches."""
import json
from typing import Any, Dict, Iterable, Optional

import numpy as np
import torch

__all__ = ["require_onnx", "ort_session", "run_session", "read_metadata", "METADATA_KEYS"]

METADATA_KEYS = ("lightops.model", "lightops.frontend", "lightops.classes", "lightops.input_size",
                 "lightops.input", "lightops.clip_samples", "lightops.min_frames")
"""``metadata_props`` keys :func:`lightops.deploy.export_onnx` writes (values are JSON; ``lightops.min_frames``, the
fewest log-mel frames the model classifies, is null for models that do not say and absent in older files)."""


def require_onnx() -> None:
    """Raise ``ImportError`` naming the ``export`` extra when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ONNX export and inference need the onnx and onnxruntime packages ({e}); install them "
                          f"with pip install 'lightops[export]'") from e


def ort_session(path: str, threads: int = 1, **options: Any) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads (1 inter-op).

    Args:
        path: the ONNX file.
        threads: intra-op threads.
        options: further ``SessionOptions`` attributes (e.g. ``graph_optimization_level``, ``enable_profiling``).
    """
    require_onnx()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    for key, value in options.items():
        setattr(opts, key, value)
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run_session(session: Any, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """The session's first output for each batch, concatenated on the batch axis."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: np.ascontiguousarray(x.numpy())})[0] for x in batches])


def read_metadata(path_or_session: Any, source: Optional[str] = None) -> Dict[str, Optional[Any]]:
    """The ``lightops.*`` metadata of an ONNX file or session, JSON-decoded (None for a missing key).

    Args:
        path_or_session: the ONNX file, or an onnxruntime session.
        source: how errors name the file (default: the path, or the session's model path).

    Raises:
        ValueError: a value that is not JSON (the message names the file and the key).
    """
    if isinstance(path_or_session, str):
        import onnx

        props = {p.key: p.value for p in onnx.load(path_or_session, load_external_data=False).metadata_props}
        source = source or path_or_session
    else:
        props = dict(path_or_session.get_modelmeta().custom_metadata_map)
        source = source or getattr(path_or_session, "_model_path", None) or "the ONNX model"
    meta: Dict[str, Optional[Any]] = {}
    for key in METADATA_KEYS:
        try:
            meta[key] = json.loads(props[key]) if key in props else None
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: its metadata {key!r} is not valid JSON ({e.msg} at character {e.pos}): the "
                             f"file was edited or not written by lightops export; export it again") from None
    return meta
