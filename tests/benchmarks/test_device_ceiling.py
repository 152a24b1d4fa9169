"""``python -m benchmarks.device_ceiling``: two scene sets with the same evaluation clips (unseen devices held out of
training, or every device in training with the same clip count), and the split of a drop into the devices' own
difficulty and generalisation."""
import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import compare, device_ceiling

SMALL = ["--segments", "4", "--clip-seconds", "0.1", "--sample-rate", "8000", "--seen-devices", "a", "b", "s1",
         "--unseen-devices", "s4", "s5"]


def _devices(csv: Path):
    return [Path(line.split("\t")[0]).stem.split("-")[-1] for line in csv.read_text().splitlines()[1:]]


def test_rotation_keeps_a_share_of_every_device_and_the_clips_per_class(tmp_path):
    setup = tmp_path / "evaluation_setup"
    setup.mkdir()
    devices = ["a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6"]
    rows = [f"audio/{scene}-lyon-{seg}-{seg}-{d}.wav\t{scene}" for scene in ("park", "bus") for seg in range(0, 28, 2)
            for d in devices]
    (setup / "fold1_train.csv").write_text("filename\tscene_label\n" + "\n".join(rows) + "\n")
    assert device_ceiling.rotate_training_devices(tmp_path, devices, keep=6) == 2 * 14 * 6
    kept = (setup / "fold1_train.csv").read_text().splitlines()
    assert kept[0] == "filename\tscene_label"
    per_segment = Counter(line.split("\t")[0].rsplit("-", 1)[0] for line in kept[1:])
    assert set(per_segment.values()) == {6} and len(per_segment) == 28  # every segment keeps 6 of its 9 devices
    per_device = Counter(_devices(setup / "fold1_train.csv"))
    assert set(per_device) == set(devices) and max(per_device.values()) - min(per_device.values()) <= 1


def test_the_two_scene_sets_share_their_evaluation_clips_and_clip_count(tmp_path):
    args = device_ceiling.build_ceiling_parser().parse_args(["--root", str(tmp_path), *SMALL])
    folders = device_ceiling.write_scene_sets(args)
    held, every = folders["held-out"], folders["all"]
    evaluate = (held / "evaluation_setup" / "fold1_evaluate.csv").read_text()
    assert evaluate == (every / "evaluation_setup" / "fold1_evaluate.csv").read_text()
    for line in evaluate.splitlines()[1:]:
        name = line.split("\t")[0]
        assert (held / name).read_bytes() == (every / name).read_bytes()
    held_train = _devices(held / "evaluation_setup" / "fold1_train.csv")
    every_train = _devices(every / "evaluation_setup" / "fold1_train.csv")
    assert len(held_train) == len(every_train) == 10 * 2 * 3
    assert set(held_train) == {"a", "b", "s1"} and set(every_train) == {"a", "b", "s1", "s4", "s5"}
    stamp = (every / "scene_set.json").stat().st_mtime_ns
    assert device_ceiling.write_scene_sets(args)["all"] == every  # the same settings: kept, not written again
    assert (every / "scene_set.json").stat().st_mtime_ns == stamp


def test_gap_and_table_split_the_drop():
    assert device_ceiling.group_gap({"a": 0.8, "b": 0.6, "s4": 0.5}, ["s4"]) == pytest.approx((0.7, 0.5, 0.2))
    settings = dict(train_clips=60, eval_clips=50, epochs=1)
    rows = [dict(model="m", recipe="default", training=t, seed=s, accuracy=0.6, code="abc", settings=settings,
                 per_device={"a": 0.7, "s4": 0.7 - gap}, first_group=0.7, second_group=0.7 - gap, gap=gap)
            for t, gap in (("held-out", 0.2), ("all", 0.05)) for s in (0, 1)]
    text = device_ceiling.markdown(dict(rows=rows, unseen_devices=["s4"], family="tau", command="c", date="d",
                                        machine="x"))
    assert "| m | default | s4 held out | 2 | 60.0 ± 0.0 | 70.0 ± 0.0 | 50.0 ± 0.0 | 20.0 ± 0.0 | 50.0 ± 0.0 |" in text
    assert "| m | default | every device | 2 |" in text
    assert "| m | default | 20.0 | 5.0 | 15.0 | 50.0 | 65.0 |" in text


def test_command_trains_on_both_sets_and_writes_the_block(tmp_path, monkeypatch):
    """The runs (a stand-in for ``lightops train`` that scores s4 by the folder it is given) land in one table."""
    real_run = compare.subprocess.run
    calls = []

    def fake_train(cmd, **kwargs):
        if cmd[0] == "git":
            return real_run(cmd, **kwargs)
        data, out = Path(cmd[cmd.index("--data") + 1]), Path(cmd[cmd.index("--out") + 1])
        calls.append(data.name)
        held = data.name.endswith("held-out")
        per_device = {"a": 0.8, "b": 0.8, "s1": 0.7, "s4": 0.4 if held else 0.6, "s5": 0.5 if held else 0.6}
        metrics = dict(accuracy=0.6, log_loss=1.0, seen={"accuracy": 0.77, "devices": ["a", "b", "s1"]},
                       unseen={"accuracy": 0.45 if held else None, "devices": ["s4", "s5"] if held else []},
                       per_device={d: {"accuracy": v} for d, v in per_device.items()}, params=10, macs=100,
                       input_size=[1, 32, 10], mean_train_seconds_per_epoch=1.0, epochs=1, batch_size=8, device="cpu",
                       frontend=dict(sample_rate=8000, n_fft=256, hop_length=128, n_mels=32),
                       data=dict(source=str(data), train_clips=60, eval_clips=50, clip_seconds=0.1,
                                 train_devices=["a", "b", "s1"]))
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics))
        return compare.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(compare.subprocess, "run", fake_train)
    page = tmp_path / "models.md"
    page.write_text("# page\n\n<!-- BEGIN ceiling -->\n<!-- END ceiling -->\n")
    argv = ["--root", str(tmp_path / "sets"), *SMALL, "--models", "dcase2020_baseline", "--seeds", "0", "--epochs",
            "1", "--runs", str(tmp_path / "runs"), "--json", str(tmp_path / "c.json"), "--docs", str(page), "--block",
            "ceiling"]
    assert device_ceiling.main(argv) == 0
    assert sorted(calls) == ["tau-all", "tau-held-out"]
    text = page.read_text()
    assert "| dcase2020_baseline | recipe dcase | s4, s5 held out | 1 |" in text
    assert "| dcase2020_baseline | recipe dcase | 31.7 | 16.7 | 15.0 | 45.0 | 60.0 |" in text
    assert "python -m benchmarks.device_ceiling --root" in text
    for wrong in (["--device-families", "eq"], ["--data", str(tmp_path)]):
        with pytest.raises(SystemExit):
            device_ceiling.main(argv + wrong)
