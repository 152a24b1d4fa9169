"""Device models from unlabeled recordings (``lightops adapt``): batch-norm statistics of the given inputs, weights
kept, the input shift of a device removed; the checkpoint routes in eval and predict; bad input named."""
import csv
import glob
import json
import os

import pytest
import torch
import torch.nn as nn

from lightops.checkpoint import load_model, read_checkpoint
from lightops.cli import main
from lightops.deploy.adapt import adapt_batchnorm, device_inputs


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


def test_statistics_are_those_of_the_inputs_weighted_by_clips():
    net, x = _net(), torch.randn(8, 1, 6, 5) * 3 + 2
    one = adapt_batchnorm(net, [x])
    assert torch.allclose(one[0].running_mean, x.mean(dim=(0, 2, 3)))
    assert torch.allclose(one[0].running_var, x.var(dim=(0, 2, 3), unbiased=True), rtol=1e-5)
    # batches of 3 and 5 clips: the first layer's mean is the mean of all 8 (each batch weighted by its clips)
    split = adapt_batchnorm(net, [x[:3], x[3:]])
    assert torch.allclose(split[0].running_mean, x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert not split.training and not any(m.training for m in split.modules())
    assert all(bn.momentum == 0.1 for bn in (split[0], split[2]))
    # weights kept, the original untouched
    base = _net()
    for (k, a), b in zip(net.state_dict().items(), base.state_dict().values()):
        assert torch.equal(a, b), k
    for k, v in one.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, net.state_dict()[k]), k


def test_a_device_gain_and_offset_are_removed():
    """Inputs of a 'device' that scales and shifts every value: the adapted model gives on them what the model
    adapted on the clean inputs gives on those (the input batch norm takes the shift out exactly)."""
    net, x = _net(), torch.randn(16, 1, 6, 5)
    y = 2.5 * x - 4.0
    clean, device = adapt_batchnorm(net, [x]), adapt_batchnorm(net, [y])
    with torch.no_grad():
        assert torch.allclose(device(y), clean(x), atol=1e-4)
        assert not torch.allclose(clean(y), clean(x), atol=1e-2)  # without adaptation the shift shows


def test_bad_models_and_inputs_are_named():
    with pytest.raises(ValueError, match="no batch-norm layer"):
        adapt_batchnorm(nn.Conv2d(1, 2, 1), [torch.randn(2, 1, 4, 4)])
    with pytest.raises(ValueError, match="track_running_stats"):
        adapt_batchnorm(nn.BatchNorm2d(1, track_running_stats=False), [torch.randn(2, 1, 4, 4)])
    with pytest.raises(ValueError, match="no inputs"):
        adapt_batchnorm(_net(), [])
    with pytest.raises(ValueError, match="no inputs"):
        adapt_batchnorm(_net(), [torch.zeros(0, 1, 4, 4)])


@pytest.fixture(scope="module")
def adapted(trained_tau_run, tmp_path_factory):
    root, ckpt, _ = trained_tau_run
    files = sorted(glob.glob(f"{root}/audio/*-s4.wav"))
    out = tmp_path_factory.mktemp("adapt")
    assert main(["adapt", ckpt, "--device", "s4", *files, "--out", str(out), "--quiet"]) == 0
    return root, ckpt, str(out), files


def test_checkpoint_holds_the_device_model(adapted):
    _, ckpt, out, files = adapted
    general, new = read_checkpoint(ckpt), read_checkpoint(os.path.join(out, "last.pt"))
    assert list(new["device_models"]) == ["s4"] and "optimizer" not in new
    assert all(torch.equal(general["state_dict"][k], v) for k, v in new["state_dict"].items())
    device = new["device_models"]["s4"]
    changed = {k for k, v in device.items() if not torch.equal(v, general["state_dict"][k])}
    assert changed and all("running_" in k or "num_batches" in k for k in changed)
    report = json.loads(open(os.path.join(out, "adapt.json")).read())
    assert report["devices"]["s4"]["files"] == len(files) and report["devices"]["s4"]["windows"] == len(files)
    # the statistics are those of the files' inputs through the model's own front end
    loaded = load_model(ckpt)
    x = device_inputs(files, loaded.front_end(), loaded.clip_samples())
    assert report["prior"] == 30  # the default: the trained statistics count as 30 clips
    expected = adapt_batchnorm(loaded.model, [x], prior=30).state_dict()
    assert all(torch.allclose(device[k].float(), expected[k].float(), atol=1e-5) for k in changed)


def test_eval_and_predict_route_the_device(adapted, tmp_path):
    root, ckpt, out, files = adapted
    new = os.path.join(out, "last.pt")
    assert main(["eval", new, "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    comparison = json.loads((tmp_path / "eval" / "metrics.json").read_text())["comparison"]
    assert comparison["s4"]["model"] == "s4" and comparison["a"]["model"] == "general"
    rows = {}
    for name, path in (("general", ckpt), ("adapted", new)):
        pred = tmp_path / f"{name}.csv"
        assert main(["predict", path, f"{root}/audio", "--device-ids", f"{root}/meta.csv", "--out", str(pred),
                     "--quiet"]) == 0
        with open(pred, newline="") as fh:
            rows[name] = {r["filename"]: r for r in csv.DictReader(fh, delimiter="\t")}
    s4 = [f for f in rows["general"] if f.endswith("-s4.wav")]
    other = [f for f in rows["general"] if not f.endswith("-s4.wav")]
    assert s4 and other
    assert all(rows["general"][f] == rows["adapted"][f] for f in other)  # other devices: the general model
    assert any(rows["general"][f] != rows["adapted"][f] for f in s4)


def test_bad_input_is_named(adapted, tmp_path):
    root, ckpt, out, files = adapted
    with pytest.raises(SystemExit, match="not found"):
        main(["adapt", ckpt, "--device", "s4", str(tmp_path / "missing"), "--out", str(tmp_path / "o1")])
    with pytest.raises(SystemExit, match="at least one audio file"):
        main(["adapt", ckpt, "--device", "s4", "--out", str(tmp_path / "o2")])
    with pytest.raises(SystemExit, match="is the checkpoint being adapted"):
        main(["adapt", ckpt, "--device", "s4", files[0], "--out", os.path.dirname(ckpt)])
    with pytest.raises(SystemExit, match="--overwrite"):
        main(["adapt", ckpt, "--device", "s4", files[0], "--out", out])
    bad = tmp_path / "notaudio.wav"
    bad.write_text("not audio")
    with pytest.raises(SystemExit, match="notaudio.wav"):
        main(["adapt", ckpt, "--device", "s4", str(bad), "--out", str(tmp_path / "o3")])
    assert not (tmp_path / "o3" / "last.pt").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no audio files"):
        main(["adapt", ckpt, "--device", "s4", str(empty), "--out", str(tmp_path / "o4")])


def test_few_windows_are_warned_about(adapted, tmp_path):
    from lightops.deploy.adapt import adapt_checkpoint

    _, ckpt, _, files = adapted
    with pytest.warns(UserWarning, match="device s4: only 3 windows"):
        adapt_checkpoint(ckpt, {"s4": files[:3]}, tmp_path / "few")
    assert (tmp_path / "few" / "last.pt").exists()


def test_prior_blends_the_trained_statistics_by_clip_counts():
    net, x = _net(), torch.randn(8, 1, 6, 5) * 3 + 2
    full, half = adapt_batchnorm(net, [x]), adapt_batchnorm(net, [x], prior=8)
    for name in ("running_mean", "running_var"):
        trained, estimated = getattr(net[0], name), getattr(full[0], name)
        assert torch.allclose(getattr(half[0], name), (trained + estimated) / 2)  # 8 trained clips, 8 given
    assert torch.allclose(adapt_batchnorm(net, [x], prior=1e9)[0].running_mean, net[0].running_mean, atol=1e-6)
    with pytest.raises(ValueError, match="prior"):
        adapt_batchnorm(net, [x], prior=-1)


def test_files_of_one_name_from_two_folders_both_count(adapted, tmp_path):
    import shutil

    from lightops.deploy.adapt import adapt_checkpoint

    _, ckpt, _, files = adapted
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        for f in files:
            shutil.copy(f, tmp_path / sub / os.path.basename(f))
    twice = [str(tmp_path / sub / os.path.basename(files[0])) for sub in ("x", "y")]
    with pytest.warns(UserWarning, match="only 2 windows"):
        report = adapt_checkpoint(ckpt, {"s4": twice}, tmp_path / "out")
    assert report["devices"]["s4"]["files"] == 2
