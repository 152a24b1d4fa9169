"""``lightops bench``: run the benchmark suite of a source checkout (``python -m benchmarks.run`` or
``python -m benchmarks.bench_ort``) and regenerate its docs pages."""
import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    module = "benchmarks.bench_ort" if args.runtime == "onnxruntime" else "benchmarks.run"
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise SystemExit(f"lightops bench: {root / 'benchmarks'} not found; the benchmarks ship with the source "
                         "repository")
    static = ["--static"] if args.static and args.runtime == "onnxruntime" else []
    cmd = [sys.executable, "-m", module] + (["--quick"] if args.quick else []) + static
    return subprocess.call(cmd, cwd=root)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``bench`` to the subcommands."""
    p = sub.add_parser("bench", help="run the benchmarks and regenerate docs/benchmarks.md (source checkout)")
    p.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    p.add_argument("--runtime", choices=["pytorch", "onnxruntime"], default="pytorch",
                   help="pytorch: the operator and model suites (docs/benchmarks.md); onnxruntime: every model "
                        "exported and timed in ONNX Runtime against MobileNetV3 (docs/deploy.md)")
    p.add_argument("--static", action="store_true",
                   help="with --runtime onnxruntime: only the fixed-length exports (no dynamic-time files)")
    p.set_defaults(func=_run)
    return p
