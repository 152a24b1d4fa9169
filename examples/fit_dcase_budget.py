"""Fit a model to the DCASE Task 1 complexity limits and print its profile.

DCASE 2022-2024 Task 1 (low-complexity acoustic scene classification) allows 128K parameters and
30 MMACs for one 1-s clip at batch 1; with lightops' default front end a 1-s clip is a ``(1, 256, 44)``
log-mel map. ``fit_budget`` bisects the channel multiplier ``width`` of a registered model until it is
the widest that fits, and ``lightops.profiling.profile`` prints the per-layer table (shapes, params,
MACs and where each count comes from), the totals and the memory figures of the fitted model.

    python examples/fit_dcase_budget.py                              # DSSDN-Small, its SPC operators
    python examples/fit_dcase_budget.py --model dssdn_large --op osc  # any model, any registered operator
"""
from __future__ import annotations

import argparse

import lightops
from lightops.profiling import DCASE_MAX_MACS, DCASE_MAX_PARAMS, fit_budget, profile


def main() -> None:
    """Fit ``--model`` (with ``--op``) to the limits, print the result and its profile table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dssdn_small", choices=lightops.list_models(), help="model to fit")
    parser.add_argument("--op", default=None, help="operator for every block (default: the model's own)")
    parser.add_argument("--max-params", type=int, default=DCASE_MAX_PARAMS, help="parameter limit")
    parser.add_argument("--max-macs", type=int, default=DCASE_MAX_MACS, help="MAC limit on --input")
    parser.add_argument("--input", default="1,256,44", help="C,F,T the MACs are counted on (1-s clip)")
    parser.add_argument("--classes", type=int, default=10, help="classifier outputs")
    parser.add_argument("--depth", type=int, default=None,
                        help="profile tree depth (default: flat view, one row per counted module)")
    args = parser.parse_args()

    input_size = tuple(int(v) for v in args.input.split(","))
    kwargs = dict(num_classes=args.classes, **({"op": args.op} if args.op else {}))
    fit = fit_budget(args.model, max_params=args.max_params, max_macs=args.max_macs, input_size=input_size,
                     **kwargs)
    print(f"{args.model} ({kwargs}) fitted: width = {fit.width:.3f}")
    print(fit.check)
    print("block widths:", [b.out_chs for b in fit.model.cfg.blocks], "stem:", fit.model.cfg.stem.out_chs)
    print()
    print(profile(fit.model, input_size).table(depth=args.depth))


if __name__ == "__main__":
    main()
