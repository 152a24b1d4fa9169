"""``lightops predict``: scene labels for recordings in DCASE's submission format, or for a live stream."""
import argparse
import os
import sys
from collections import Counter
from typing import BinaryIO, Callable, Sequence

import numpy as np

from lightops.deploy.device_ids import read_device_ids
from lightops.deploy.predict import AUDIO_EXTENSIONS, Predictor, predict_files, write_predictions
from lightops.deploy.streaming import StreamingClassifier
from lightops.fileio import atomic_write, check_output_path, same_file

from ._args import subcommand

__all__ = ["add_arguments", "check_outputs", "add_parser", "main"]

_FORMATS = {"f32": np.float32, "s16": np.int16}


def _positive(kind: type) -> Callable[[str], object]:
    """An argparse type: a number of ``kind`` above 0 (argparse names the option in its error)."""

    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops predict`` options to ``p``."""
    p.add_argument("model", help="a last.pt from lightops train, or an .onnx from lightops export")
    p.add_argument("paths", nargs="*", help="audio files and folders (searched recursively)")
    p.add_argument("--out", default="predictions.csv", help="tab-separated output (default predictions.csv)")
    p.add_argument("--window", type=_positive(float), default=None,
                   help="window in seconds (default: the model's clip)")
    p.add_argument("--hop", type=_positive(float), default=None,
                   help="hop between windows in seconds (default: the window; half the window with --stream)")
    p.add_argument("--per-window", action="store_true", help="one row per window, with its onset in seconds")
    p.add_argument("--resample", action="store_true", help="resample files at another rate instead of failing them")
    p.add_argument("--device-ids", default=None, metavar="FILE",
                   help="recording devices of the files: a TAU meta.csv (source_label), an evaluation_setup file "
                        "(device_id) or a two-column table filename,device; files of a device with a fine-tuned "
                        "model (lightops finetune --per-device) go through it, all others through the general model")
    p.add_argument("--errors", default=None, help="write the files that failed, with their reason, to this file")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="windows per model call (default 32)")
    p.add_argument("--threads", type=_positive(int), default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--stream", action="store_true", help="read raw mono audio from standard input at the model's "
                                                         "sample rate; print one line per window (no audio paths)")
    p.add_argument("--stream-format", choices=sorted(_FORMATS), default="f32",
                   help="raw sample format on standard input: f32 (float32) or s16 (16-bit PCM); little-endian. A "
                        "stream that ends inside a sample (its byte count not a multiple of 4 or 2) has its last "
                        "bytes dropped, with a warning on stderr naming how many (often a sign of the wrong format)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of a checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def _stream(predictor: Predictor, args: argparse.Namespace, source: BinaryIO) -> int:
    stream = StreamingClassifier(predictor, window=args.window, hop=args.hop)
    dtype = np.dtype(_FORMATS[args.stream_format]).newbyteorder("<")
    scale = 1.0 / 32768.0 if args.stream_format == "s16" else 1.0
    chunk_bytes = stream.hop * dtype.itemsize
    print("onset\tscene_label\t" + "\t".join(stream.classes), flush=True)
    pending, received = b"", 0
    while True:
        data = source.read(chunk_bytes)
        if not data:
            break
        pending += data
        usable = len(pending) - len(pending) % dtype.itemsize
        samples = np.frombuffer(pending[:usable], dtype=dtype).astype(np.float32) * scale
        pending = pending[usable:]
        if not samples.size:
            continue
        try:
            windows = stream.push(samples)
        except ValueError as e:  # the stream stops: later onsets would be wrong without these samples
            raise SystemExit(f"lightops predict: standard input, samples {received}-{received + samples.size - 1}: "
                             f"{e}; the stream stopped there") from None
        received += samples.size
        for onset, probs in windows:
            _print_window(onset, probs, stream.classes)
    for onset, probs in stream.flush():
        _print_window(onset, probs, stream.classes)
    if pending:  # the windows printed stand; the user learns the input was not whole samples
        print(f"lightops predict: warning: standard input ended inside a sample: dropped its last {len(pending)} "
              f"byte(s) ({args.stream_format} samples are {dtype.itemsize} bytes; is --stream-format right?)",
              file=sys.stderr, flush=True)
    return 0


def _print_window(onset: float, probs: np.ndarray, classes: Sequence[str]) -> None:
    print(f"{onset:.3f}\t{classes[int(np.argmax(probs))]}\t" + "\t".join(f"{p:.6f}" for p in probs), flush=True)


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` or ``--errors`` that would replace an input (the model, an audio file given) or each other:
    they are written at the end, over whatever file is there."""
    outputs = [(o, v) for o, v in (("--out", args.out), ("--errors", args.errors)) if v]
    if len(outputs) == 2 and same_file(outputs[0][1], outputs[1][1]):
        raise ValueError(f"--out and --errors are the same file ({args.out}): give two files")
    inputs = [args.model] + [p for p in args.paths if os.path.isfile(p)]
    folders = [os.path.realpath(p) + os.sep for p in args.paths if os.path.isdir(p)]
    for option, path in outputs:
        if not os.path.exists(path):
            continue
        audio_in_folder = path.lower().endswith(AUDIO_EXTENSIONS) and any(
            os.path.realpath(path).startswith(f) for f in folders)
        if audio_in_folder or any(same_file(path, given) for given in inputs):
            raise ValueError(f"{option} {path} is an input (the model or an audio file to predict): writing it would "
                             f"replace that file; give another {option}")


def _run(args: argparse.Namespace) -> int:
    try:
        if args.stream and args.paths:
            raise ValueError(f"--stream reads audio from standard input, not from files: drop the paths given beside "
                             f"it ({' '.join(args.paths)})")
        if not args.stream:  # before any work: a run over many files must not end in an unwritable file
            check_output_path(args.out)
            if args.errors:
                check_output_path(args.errors)
            check_outputs(args)
        predictor = Predictor.from_path(args.model, trusted=args.trust_checkpoint, threads=args.threads)
        if args.stream:
            return _stream(predictor, args, sys.stdin.buffer)
        if not args.paths:
            raise ValueError("give audio files or folders to predict (or --stream)")
        device_ids = read_device_ids(args.device_ids) if args.device_ids else None
        predictions, errors = predict_files(predictor, args.paths, window=args.window, hop=args.hop,
                                            per_window=args.per_window, resample=args.resample,
                                            batch_size=args.batch_size, progress=not args.quiet and
                                            sys.stderr.isatty(), device_ids=device_ids)
        write_predictions(predictions, predictor.classes, args.out, per_window=args.per_window)
    except (ValueError, OSError, ImportError) as e:
        raise SystemExit(f"lightops predict: {e}") from e
    for name, reason in errors.items():
        print(f"lightops predict: {name}: {reason}", file=sys.stderr)
    if args.errors:
        with atomic_write(args.errors, "w") as fh:
            fh.writelines(f"{name}\t{reason}\n" for name, reason in errors.items())
    if not args.quiet:
        used = Counter(p.model for p in predictions)
        models = ", ".join(f"{k} {v}" for k, v in sorted(used.items())) if predictor.devices else ""
        print(f"wrote {args.out}: {len(predictions)} row(s); {len(errors)} file(s) failed"
              + (f"; rows per model: {models}" if models else ""))
    return 1 if errors else 0


add_parser, main = subcommand("predict", "scene labels for audio files (DCASE's CSV format) or a live stream",
                               "Predict scene labels.", add_arguments, _run)
