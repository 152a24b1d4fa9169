"""The device-robust recipe: presets, Freq-MixStyle / DIR / rolling wiring, distillation, subsets, bad input."""
import os

import pytest
import torch
import torch.nn.functional as F

from lightops.audio import FilterAugment, FreqDSU, FreqMixStyle, mixup
from lightops.checkpoint import read_checkpoint
from lightops.cli.logits import main as logits_main
from lightops.cli.train import add_arguments, config_from_args
from lightops.cli.train import main as train_main
from lightops.data import DeviceImpulseResponses, TimeRoll
from lightops.train import TrainConfig, train
from lightops.train import run as run_mod
from lightops.train.config import RECIPES, recipe_config
from lightops.train.losses import DistillationLoss, StepBatch, build_losses, kd_loss
from tests.train.common import TINY, TINY_ARGS


def _cfg(argv):
    import argparse

    return config_from_args(add_arguments(argparse.ArgumentParser()).parse_args(argv))


def test_presets_and_explicit_options_win():
    default, dcase = _cfg([]), _cfg(["--recipe", "dcase"])
    assert (default.freq_mixstyle, default.dir, default.roll) == (0.0, None, False)
    assert default == TrainConfig()  # the default recipe is the configuration of before
    # the DCASE 2025 baseline's recipe: Freq-MixStyle, roll (0.1 s), frequency masks only, no mixup, no DIR
    assert (dcase.freq_mixstyle, dcase.freq_mixstyle_alpha, dcase.dir, dcase.roll, dcase.roll_seconds) == \
        (0.4, 0.3, None, True, 0.1)
    assert (dcase.mixup_alpha, dcase.time_mask, dcase.freq_mask, dcase.specaug) == (0.0, 0, None, True)
    assert dcase == recipe_config("dcase") and RECIPES["dcase"]["freq_mixstyle"] == 0.4
    over = _cfg(["--recipe", "dcase", "--dir", "/irs", "--freq-mixstyle", "0", "--no-roll"])
    assert (over.dir, over.freq_mixstyle, over.roll, over.dir_p) == ("/irs", 0.0, False, 0.6)
    assert _cfg(["--teacher", "a.pt", "b.pt"]).teacher == ("a.pt", "b.pt")


def test_recipe_wires_the_augmentations():
    assert [type(a) for a in run_mod.waveform_augmentations(recipe_config("dcase", **TINY))] == [TimeRoll]
    augment = run_mod.waveform_augmentations(recipe_config("dcase", dir="simulated", **TINY))
    assert [type(a) for a in augment] == [DeviceImpulseResponses, TimeRoll] and augment[0].p == 0.6
    assert run_mod.waveform_augmentations(TrainConfig(**TINY)) == []


def test_roll_is_the_dcase2025_baselines_at_most_0_1_s():
    """The DCASE 2025 baseline rolls every training clip by a uniform shift of at most 0.1 s (``roll_sec``)."""
    cfg = recipe_config("dcase", **TINY)
    roll = run_mod.waveform_augmentations(cfg)[-1]
    assert roll.max_shift == round(0.1 * cfg.sample_rate) and roll.p == 1.0
    wider = run_mod.waveform_augmentations(recipe_config("dcase", **TINY, roll_seconds=0.5))[-1]
    assert wider.max_shift == round(0.5 * cfg.sample_rate)
    x = torch.arange(cfg.sample_rate, dtype=torch.float32).repeat(64, 1)
    shifts = [int(torch.argmin(row)) for row in roll(x, torch.Generator().manual_seed(0))]
    assert max(min(s, cfg.sample_rate - s) for s in shifts) <= roll.max_shift
    with pytest.raises(ValueError, match="roll_seconds"):
        TrainConfig(**TINY, roll_seconds=-0.1)


def test_kd_loss_matches_hand_computation():
    gen = torch.Generator().manual_seed(0)
    student, teacher_logits = torch.randn(4, 10, generator=gen), torch.randn(4, 10, generator=gen)
    t = 2.0
    p = torch.softmax(teacher_logits / t, dim=1)
    hand = t * t * (p * (p.log() - torch.log_softmax(student / t, dim=1))).sum(dim=1).mean()
    assert torch.allclose(kd_loss(student, p, t), hand, atol=1e-6)
    target = torch.tensor([1, 2, 3, 4])
    losses = build_losses(torch.nn.Linear(2, 2), mixup=False, label_smoothing=0.0, ortho_alpha=0.1,
                          kd_temperature=t, kd_weight=0.02)
    batch = StepBatch(student, target, torch.nn.Linear(2, 2), p)
    total = sum(loss(batch) for loss in losses)
    assert torch.allclose(total, 0.02 * F.cross_entropy(student, target) + 0.98 * hand, atol=1e-6)
    with pytest.raises(ValueError, match="no teacher"):
        DistillationLoss()(StepBatch(student, target, torch.nn.Linear(2, 2)))


def test_mixup_mixes_teacher_targets_the_same_way():
    x, y = torch.randn(6, 3), torch.arange(6) % 3
    onehot = F.one_hot(y, 3).float()
    xm, ym, em = mixup(x, y, 0.4, num_classes=3, generator=torch.Generator().manual_seed(1), extra=onehot)
    xm2, ym2 = mixup(x, y, 0.4, num_classes=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(xm, xm2) and torch.equal(ym, ym2)  # extra targets change nothing else
    assert torch.allclose(em, ym)  # mixed with the same lam and the same pairs as the labels
    assert not torch.equal(em, onehot)


@pytest.fixture(scope="module")
def teacher_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    train(TrainConfig(**dict(TINY, out=str(out), epochs=1)))
    return str(out / "last.pt")


def test_distillation_computes_teacher_logits_once(teacher_ckpt, tmp_path, monkeypatch):
    calls = []
    real = run_mod.compute_teacher_logits
    monkeypatch.setattr(run_mod, "compute_teacher_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = train(recipe_config("dcase", **dict(TINY, out=str(tmp_path / "kd"), epochs=2, teacher=(teacher_ckpt,),
                                             dir="simulated")))
    assert m["complete"] and len(calls) == 1 and (tmp_path / "kd" / "teacher_logits.pt").is_file()
    assert m["args"]["teacher"] == (teacher_ckpt,) or m["args"]["teacher"] == [teacher_ckpt]
    assert m["args"]["dir"] == "simulated" and m["args"]["freq_mixstyle"] == 0.4 and m["args"]["mixup_alpha"] == 0


def test_logits_file_round_trip(teacher_ckpt, tmp_path):
    logits = tmp_path / "t.pt"
    data_args = ["--num-clips", "40", "--clip-seconds", "0.5"]
    assert logits_main([teacher_ckpt, "--out", str(logits), "--quiet"] + data_args) == 0
    table = torch.load(logits, weights_only=True)
    assert table["logits"].shape == (40, 10) and table["names"][0] == "synthetic/0/train/0"
    assert train_main(TINY_ARGS + ["--epochs", "1", "--teacher-logits", str(logits), "--out",
                                   str(tmp_path / "run")]) == 0


def test_bad_recipe_inputs_fail_before_anything_is_written(teacher_ckpt, tmp_path):
    def fails(argv, match, exc=SystemExit):
        out = tmp_path / "run"
        with pytest.raises(exc, match=match):
            train_main(TINY_ARGS + ["--epochs", "1", "--out", str(out)] + argv)
        assert not out.exists(), argv

    fails(["--dir", str(tmp_path / "no_irs")], "impulse-response folder not found")
    irs = tmp_path / "irs"
    irs.mkdir()
    (irs / "broken.wav").write_bytes(b"not a wav")
    fails(["--dir", str(irs)], "broken.wav")
    fails(["--train-fraction", "0.3"], "2")  # argparse: invalid choice (exit status 2)
    ckpt = read_checkpoint(teacher_ckpt)
    ckpt["classes"] = ["indoor", "outdoor"]
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    fails(["--teacher", str(other)], r"classes differ: expected \['airport'.*got \['indoor', 'outdoor'\]")
    ckpt = read_checkpoint(teacher_ckpt)
    ckpt["frontend"]["n_mels"] = 128
    torch.save(ckpt, other)
    fails(["--teacher", str(other)], "another front end: teacher .*'n_mels': 128.* student .*'n_mels': 64")
    with pytest.raises(ValueError, match="train_fraction must be one of"):
        TrainConfig(train_fraction=0.3)


def test_train_fraction_subset(tmp_path):
    m = train(TrainConfig(**dict(TINY, out=str(tmp_path / "run"), epochs=1, train_fraction=0.5, num_clips=120)))
    assert m["data"]["train_clips"] == 60  # 2 clips per (class, device) group, one kept


def test_freq_mixstyle_is_a_front_end_step(tmp_path):
    cfg = recipe_config("dcase", **TINY)
    run = run_mod._Run(cfg, run_mod.init_distributed("cpu"))
    run.input_size = (1, 64, 32)
    fe = run.build_frontend(None, {"frontend": {"mean": 0.0, "std": 1.0}})
    assert isinstance(fe.steps[0], FreqMixStyle) and fe.steps[0].p == 0.4
    assert os.environ.get("WORLD_SIZE") in (None, "1")


def test_filter_augment_is_a_front_end_step_in_db(tmp_path):
    cfg = recipe_config("dcase", **TINY, filter_augment=0.5, filter_augment_db=9.0)
    run = run_mod._Run(cfg, run_mod.init_distributed("cpu"))
    run.input_size = (1, 64, 32)
    fe = run.build_frontend(None, {"frontend": {"mean": -30.0, "std": 12.0}})
    fa = [s for s in fe.steps if isinstance(s, FilterAugment)]
    assert len(fa) == 1 and fa[0].p == 0.5 and fa[0].db_range == (-9.0, 9.0)
    assert fa[0].db_scale == pytest.approx(1 / 12.0)  # gains in dB on the log-mel normalised by its std
    assert list(fe.steps).index(fa[0]) == 1  # after Freq-MixStyle, before SpecAugment
    plain = run_mod._Run(recipe_config("dcase", **TINY), run_mod.init_distributed("cpu"))
    plain.input_size = (1, 64, 32)
    assert not any(isinstance(s, FilterAugment) for s in plain.build_frontend(None, {"frontend": {
        "mean": 0.0, "std": 1.0}}).steps)


def test_freq_dsu_is_a_front_end_step_after_freq_mixstyle(tmp_path):
    cfg = recipe_config("dcase", **TINY, freq_dsu=0.5, freq_dsu_factor=0.8)
    run = run_mod._Run(cfg, run_mod.init_distributed("cpu"))
    run.input_size = (1, 64, 32)
    steps = list(run.build_frontend(None, {"frontend": {"mean": 0.0, "std": 1.0}}).steps)
    dsu = [s for s in steps if isinstance(s, FreqDSU)]
    assert len(dsu) == 1 and (dsu[0].p, dsu[0].factor) == (0.5, 0.8) and isinstance(steps[0], FreqMixStyle)
    assert steps.index(dsu[0]) == 1
    assert _cfg(["--recipe", "dcase", "--freq-dsu", "0.5"]).freq_dsu == 0.5
    plain = run_mod._Run(recipe_config("dcase", **TINY), run_mod.init_distributed("cpu"))
    plain.input_size = (1, 64, 32)
    assert not any(isinstance(s, FreqDSU) for s in plain.build_frontend(None, {"frontend": {"mean": 0.0,
                                                                                           "std": 1.0}}).steps)
    with pytest.raises(ValueError, match="freq_dsu must be a number"):
        recipe_config("dcase", freq_dsu=1.5)
