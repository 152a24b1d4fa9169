"""``python -m benchmarks.device_shift``: per-layer device shift on parallel recordings of a TAU-layout folder."""
import json

import numpy as np
import pytest
import torch

from benchmarks import device_shift
from benchmarks.docs.blocks import read_block
from lightops.data import make_fake_tau
from lightops.data.tau import parse_segment


def test_segments_pair_each_device_with_the_reference():
    files = ["audio/park-x-1-1-a.wav", "audio/park-x-1-1-s4.wav", "audio/bus-y-2-2-s4.wav", "audio/bus-y-2-2-a.wav",
             "audio/tram-z-3-3-b.wav"]
    devices = ["a", "s4", "s4", "a", "b"]
    assert parse_segment(files[1]) == "park-x-1-1"
    # b recorded a segment the reference did not: left out
    assert device_shift.pair_segments(files, devices, "a") == {"s4": [(0, 1), (3, 2)]}
    with pytest.raises(ValueError, match="segment"):
        parse_segment("nodash.wav")


def test_shift_is_zero_for_an_unchanged_device_and_one_for_unrelated_clips():
    g = torch.Generator().manual_seed(0)
    n, dim = 4000, 12
    ref = torch.randn(n, dim, generator=g) * torch.linspace(0.5, 3.0, dim)
    other = torch.randn(n, dim, generator=g) * torch.linspace(0.5, 3.0, dim)
    logits = torch.randn(n, 5, generator=g)
    # rows 0..n-1: the reference device; n..2n-1: a copy; 2n..3n-1: unrelated clips of the same distribution
    feats = {"tap": torch.cat([ref, ref, other]), "logits": torch.cat([logits, logits, torch.randn(n, 5, generator=g)])}
    pairs = {"same": [(i, n + i) for i in range(n)], "other": [(i, 2 * n + i) for i in range(n)]}
    out = device_shift.shifts(feats, pairs)
    assert out["shift"]["tap"]["same"] == 0.0 and out["agreement"]["same"] == 1.0
    assert out["shift"]["tap"]["other"] == pytest.approx(1.0, abs=0.06)
    assert out["agreement"]["other"] == pytest.approx(0.2, abs=0.05)


def test_parallel_folder_records_one_scene_on_every_device(tmp_path):
    import soundfile as sf

    kw = dict(n_per_class=2, devices=("a", "b"), clip_seconds=0.25, sample_rate=16000)
    make_fake_tau(tmp_path / "par", parallel=True, **kw)
    make_fake_tau(tmp_path / "own", **kw)

    def corr(root):
        a, _ = sf.read(root / "audio/airport-barcelona-0-0-a.wav")
        b, _ = sf.read(root / "audio/airport-barcelona-0-0-b.wav")
        return float(np.corrcoef(a, b)[0, 1])

    assert corr(tmp_path / "par") > 0.5 and abs(corr(tmp_path / "own")) < 0.2
    clip, sr = sf.read(tmp_path / "par" / "audio/airport-barcelona-0-0-b.wav")
    assert sr == 16000 and clip.shape == (4000,) and np.abs(clip).max() <= 0.99 + 1e-6


def _checkpoint(path, name, kwargs, recipe="default"):
    from lightops import create_model

    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    torch.save(dict(model=name, model_kwargs=kwargs, state_dict=model.state_dict(), classes=None,
                    frontend={"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 64},
                    args={"clip_seconds": 0.5, "recipe": recipe}), path)
    return path


def test_command_writes_tables_json_and_docs_block(tmp_path, capsys):
    data = make_fake_tau(tmp_path / "data", n_per_class=2, devices=("a", "s1"), eval_only_devices=("s4",),
                         clip_seconds=0.5, sample_rate=16000, parallel=True)
    ckpts = [str(_checkpoint(tmp_path / f"{i}.pt", "dssdn_small", {"num_classes": 10})) for i in range(2)]
    ckpts.append(str(_checkpoint(tmp_path / "base.pt", "dcase2025_baseline", {"num_classes": 10}, recipe="dcase")))
    page = tmp_path / "page.md"
    page.write_text("x\n<!-- BEGIN shift -->\n<!-- END shift -->\n")
    out = tmp_path / "shift.json"
    assert device_shift.main([*ckpts, "--data", data, "--docs", str(page), "--block", "shift", "--json",
                              str(out)]) == 0
    results = json.loads(out.read_text())
    first = results["runs"][0]
    assert first["segments"] == 10 and sorted(first["agreement"]) == ["s1", "s4"]
    assert list(first["shift"]) == ["stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "pre_logits",
                                    "logits"]
    assert all(np.isfinite(v) and v >= 0 for tap in first["shift"].values() for v in tap.values())
    assert "stages.2" in results["runs"][2]["shift"]
    block = read_block(str(page), "shift")
    assert "`dssdn_small` (2 checkpoint(s), 10 segments)" in block
    assert "`dcase2025_baseline (recipe dcase)` (1 checkpoint(s), 10 segments)" in block
    assert "| blocks.4 |" in block and "| agreement % |" in block and "±" in block
    assert block == device_shift.markdown(results).strip()
    capsys.readouterr()
    # re-rendered from the JSON without the checkpoints
    assert device_shift.main(["--from-json", str(out), "--no-docs"]) == 0
    assert "| stages.0 |" in capsys.readouterr().out


def test_errors_name_the_problem(tmp_path):
    data = make_fake_tau(tmp_path / "data", n_per_class=2, devices=("b", "s1"), clip_seconds=0.5, sample_rate=16000)
    ckpt = str(_checkpoint(tmp_path / "m.pt", "dssdn_small", {"num_classes": 10}))
    with pytest.raises(ValueError, match="reference device 'a'"):
        device_shift.measure(ckpt, data)
    with pytest.raises(SystemExit, match="not found"):
        device_shift.main([str(tmp_path / "missing.pt"), "--data", data, "--no-docs"])
