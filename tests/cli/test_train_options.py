"""The training options are TrainConfig's fields: every field is an option, with the field's help and default."""
import argparse
from dataclasses import fields

import pytest

from lightops.cli import eval as eval_cmd
from lightops.cli import logits as logits_cmd
from lightops.cli.train import add_arguments, config_from_args
from lightops.train import TrainConfig
from lightops.train.config import SYNTHETIC_CLIP_SECONDS, TAU_CLIP_SECONDS, default_clip_seconds

# Every flag `lightops train` had before its options were generated: they keep working.
FLAGS = ["--model", "--model-kwargs", "--width", "--data", "--out", "--epochs", "--stop-after", "--batch-size",
         "--accum-steps", "--opt", "--lr", "--weight-decay", "--sched", "--warmup-epochs", "--min-lr", "--seed",
         "--mixup", "--label-smoothing", "--no-specaug", "--freq-mask", "--time-mask", "--ortho-alpha",
         "--sample-rate", "--n-fft", "--hop-length", "--n-mels", "--clip-seconds", "--num-clips", "--num-eval-clips",
         "--data-seed", "--fold", "--norm-clips", "--resample", "--workers", "--cache", "--amp", "--sync-bn",
         "--device", "--eval-every", "--threads", "--quiet", "--resume", "--overwrite", "--recipe",
         "--freq-mixstyle", "--freq-mixstyle-alpha", "--dir", "--dir-p", "--roll", "--no-roll", "--train-fraction",
         "--teacher", "--teacher-logits", "--kd-temperature", "--kd-weight"]


def _parser(add):
    return add(argparse.ArgumentParser())


def _actions(parser):
    return {a.dest: a for a in parser._actions}


def test_every_field_is_an_option_with_its_help():
    actions = _actions(_parser(add_arguments))
    for f in fields(TrainConfig):
        assert f.metadata.get("help"), f"TrainConfig.{f.name} has no help text"
        assert f.name in actions, f"TrainConfig.{f.name} is not a lightops train option"
        assert actions[f.name].help.startswith(f.metadata["help"].replace("%", "%%"))


def test_old_flags_still_parse():
    strings = {s for a in _parser(add_arguments)._actions for s in a.option_strings}
    assert not [flag for flag in FLAGS if flag not in strings]


def test_defaults_come_from_the_fields():
    assert config_from_args(_parser(add_arguments).parse_args([])) == TrainConfig()
    help_text = _parser(add_arguments).format_help()
    assert "(default 32)" in help_text and "dcase: 0.4" in help_text  # batch_size, the dcase preset's freq_mixstyle


@pytest.mark.parametrize("argv,expected", [
    (["--batch-size", "8", "--mixup", "0"], dict(batch_size=8, mixup_alpha=0.0)),
    (["--no-specaug", "--amp", "--resample"], dict(specaug=False, amp=True, resample=True)),
    (["--warmup-lr", "0.001", "--eval-batch-size", "5"], dict(warmup_lr=0.001, eval_batch_size=5)),
    (["--width", "0.5", "--model-kwargs", '{"drop_rate": 0.1}'], dict(model_kwargs={"drop_rate": 0.1, "width": 0.5})),
])
def test_options_reach_the_config(argv, expected):
    cfg = config_from_args(_parser(add_arguments).parse_args(argv))
    assert {k: getattr(cfg, k) for k in expected} == expected


def test_eval_and_logits_share_the_fields():
    train = _actions(_parser(add_arguments))
    for add, names in ((eval_cmd.add_arguments, ("data", "workers", "device", "threads", "quiet")),
                       (logits_cmd.add_arguments, ("data", "clip_seconds", "num_clips", "data_seed", "fold"))):
        actions = _actions(_parser(add))
        for name in names:
            assert actions[name].help == train[name].help and actions[name].option_strings == \
                train[name].option_strings


def test_clip_length_rule():
    assert default_clip_seconds("synthetic") == SYNTHETIC_CLIP_SECONDS == TrainConfig().clip_length
    assert default_clip_seconds("/data/tau") == TAU_CLIP_SECONDS == TrainConfig(data="/data/tau").clip_length
    assert TrainConfig(clip_seconds=0.5).clip_length == 0.5
    assert TrainConfig(num_clips=10).synthetic_clips() == (10, 5)
