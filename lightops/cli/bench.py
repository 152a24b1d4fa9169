"""``lightops bench``: run the benchmark suite of a source checkout and regenerate its docs pages."""
import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    name = "bench_ort.py" if args.runtime == "onnxruntime" else "run.py"
    script = Path(__file__).resolve().parents[2] / "benchmarks" / name
    if not script.is_file():
        raise SystemExit(f"lightops bench: {script} not found; the benchmarks ship with the source repository")
    static = ["--static"] if args.static and args.runtime == "onnxruntime" else []
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else []) + static
    return subprocess.call(cmd, cwd=script.parents[1])


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
