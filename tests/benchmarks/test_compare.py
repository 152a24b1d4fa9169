"""``python -m benchmarks.compare``: the table's statistics over fake metrics, the plan of runs, and one tiny run end
to end (train, JSON, docs block, reuse, re-render)."""
import json
import math
import shutil
from pathlib import Path

import pytest

from benchmarks import compare
from benchmarks.compare_table import markdown, run_row, summarize

ROOT = Path(__file__).resolve().parents[2]


def _metrics(acc, seen, unseen, params=1000, seconds=2.0):
    per_device = {"a": {"accuracy": seen}, "b": {"accuracy": seen}, "s4": {"accuracy": unseen}}
    return dict(accuracy=acc, log_loss=1.5, seen={"accuracy": seen, "devices": ["a", "b"]},
                unseen={"accuracy": unseen, "devices": ["s4"]}, per_device=per_device, params=params, macs=2_500_000,
                input_size=[1, 32, 63], mean_train_seconds_per_epoch=seconds, epochs=1, batch_size=8, device="cpu",
                frontend=dict(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32),
                data=dict(source="synthetic", train_clips=40, eval_clips=40, clip_seconds=1.0,
                          train_devices=["a", "b"]))


def test_summary_is_mean_and_spread_over_seeds():
    rows = [dict(family=None, model="m", recipe="default", seed=s, **run_row(_metrics(*v)))
            for s, v in enumerate([(0.5, 0.6, 0.3), (0.7, 0.8, 0.5), (0.6, 0.7, 0.4)])]
    rows.append(dict(family=None, model="m[op=spc]", recipe="default", seed=0, **run_row(_metrics(0.4, 0.5, 0.2))))
    one, two = summarize(rows)
    assert one["seeds"] == [0, 1, 2] and two["seeds"] == [0]
    assert one["accuracy"]["mean"] == pytest.approx(0.6)
    assert one["accuracy"]["std"] == pytest.approx(0.1)  # sample standard deviation
    assert (one["accuracy"]["min"], one["accuracy"]["max"]) == (0.5, 0.7)
    assert one["drop"]["mean"] == pytest.approx(0.3)
    assert one["per_device"]["s4"]["mean"] == pytest.approx(0.4)
    assert one["param_bytes_fp16"] == 2000 and two["drop"]["std"] == 0.0
    text = markdown(dict(rows=rows, command="python -m benchmarks.compare", date="2026-01-01", machine="test"))
    assert "| m | default | 60.0 ± 10.0 | 70.0 ± 10.0 | 40.0 ± 10.0 | 30.0 ± 0.0 |" in text
    assert "| m[op=spc] | default | 40.0 | 50.0 | 20.0 | 30.0 |" in text
    assert "| 1,000 | 2.5 M | 2.0 kB |" in text


def test_missing_unseen_devices_read_as_n_a():
    m = _metrics(0.5, 0.5, None)
    m["unseen"]["devices"] = []
    row = run_row(m)
    assert row["unseen"] is None and row["drop"] is None
    (group,) = summarize([dict(family="tau", model="m", recipe="default", seed=0, **row)])
    assert group["unseen"] is None and not math.isnan(group["accuracy"]["mean"])
    text = markdown(dict(rows=[dict(family="tau", model="m", recipe="default", seed=0, **row)], command="c",
                         date="d", machine="x"))
    assert "Synthetic device family `tau`" in text and "| n/a | n/a |" in text


def test_model_specs_and_the_plan_put_teachers_first():
    assert compare.parse_model("dcase2025_baseline[op=spc,width=0.5]") == ("dcase2025_baseline",
                                                                           {"op": "spc", "width": 0.5})
    assert compare.parse_model("dssdn_small") == ("dssdn_small", {})
    with pytest.raises(SystemExit):
        compare.parse_model("m[op]")
    args = compare.parse_args(["--models", "dssdn_small", "--recipes", "default", "recipe dcase + KD (dssdn_large)",
                               "--seeds", "0", "1"])
    first, kd = compare.plan(args)
    assert compare.Job(None, "dssdn_large", "recipe dcase", 0) in first
    assert [j.recipe for j in kd] == ["recipe dcase + KD (dssdn_large)"] * 2
    cmd = compare.train_command(args, kd[0])
    teacher = cmd[cmd.index("--teacher") + 1]
    assert teacher == str(compare.run_dir(args, compare.Job(None, "dssdn_large", "recipe dcase", 0)) / "last.pt")
    spc = compare.train_command(compare.parse_args(["--models", "dcase2025_baseline[op=spc]"]),
                                compare.Job(None, "dcase2025_baseline[op=spc]", "default", 0))
    assert spc[spc.index("--model-kwargs") + 1] == '{"op": "spc"}'
    first, _ = compare.plan(compare.parse_args(["--models", "m", "--seeds", "0", "--device-families", "tau", "eq"]))
    assert [j.family for j in first] == ["tau", "eq"]
    assert compare.train_command(args, first[1])[-2:] == ["--synthetic-devices", "eq"]
    with pytest.raises(SystemExit, match="unknown recipes"):
        compare.plan(compare.parse_args(["--recipes", "nope"]))


def test_an_ensemble_recipe_teaches_every_seed_with_all_seeds_teachers():
    args = compare.parse_args(["--models", "dssdn_tiny", "--recipes", "KD (dssdn_large, seed ensemble)",
                               "--seeds", "0", "1", "2"])
    first, kd = compare.plan(args)
    runs = [compare.Job(None, "dssdn_large", "default", s) for s in (0, 1, 2)]
    assert first == runs and len(kd) == 3
    for job in kd:
        cmd = compare.train_command(args, job)
        i = cmd.index("--teacher")
        assert cmd[i + 1:i + 4] == [str(compare.run_dir(args, t) / "last.pt") for t in runs]
        assert "{teacher}" not in cmd
    # the train command line reads the three paths as one ensemble
    import argparse

    from lightops.cli.train import add_arguments, config_from_args
    ns = add_arguments(argparse.ArgumentParser()).parse_args(cmd[cmd.index("train") + 1:])
    assert len(config_from_args(ns).teacher) == 3


def test_tiny_comparison_writes_json_and_docs_block(tmp_path):
    page = tmp_path / "training.md"
    shutil.copy(ROOT / "docs" / "training.md", page)
    block = "compare-recipes"
    if f"<!-- BEGIN {block} -->" not in page.read_text():
        page.write_text(page.read_text() + f"\n<!-- BEGIN {block} -->\n<!-- END {block} -->\n")
    argv = ["--models", "dcase2020_baseline", "--recipes", "default", "--seeds", "0", "--epochs", "1",
            "--clips", "40", "--eval-clips", "40", "--sample-rate", "16000", "--n-fft", "512", "--hop-length", "256",
            "--n-mels", "32", "--batch-size", "8", "--runs", str(tmp_path / "runs"), "--json",
            str(tmp_path / "compare.json"), "--docs", str(page), "--block", block]
    assert compare.main(argv) == 0
    results = json.loads((tmp_path / "compare.json").read_text())
    (row,) = results["rows"]
    assert row["model"] == "dcase2020_baseline" and row["settings"]["n_mels"] == 32 and row["params"] > 0
    assert results["block"] == block
    text = page.read_text()
    assert "| dcase2020_baseline | default |" in text and "python -m benchmarks.compare --models" in text
    assert f"Runs trained at lightops {compare.code_label(compare.code_version())} (1)." in text
    metrics = next((tmp_path / "runs").rglob("metrics.json"))
    stamp = metrics.stat().st_mtime_ns
    assert compare.main(argv + ["--no-docs"]) == 0  # the finished run is reused, not retrained
    assert metrics.stat().st_mtime_ns == stamp
    page.write_text(text.replace("| dcase2020_baseline | default |", "| stale |"))
    assert compare.main(["--from-json", str(tmp_path / "compare.json"), "--docs", str(page)]) == 0  # its block
    assert "| dcase2020_baseline | default |" in page.read_text()


def _finished_tiny_run(tmp_path, monkeypatch):
    """A finished dssdn_tiny run (accuracy 0.5) and a stand-in for ``lightops train`` that records its command line
    and writes a run of accuracy 0.7: ``(args, job, run folder, recorded calls)``."""
    args = compare.parse_args(["--models", "dssdn_tiny", "--seeds", "0", "--epochs", "1", "--runs",
                               str(tmp_path / "runs")])
    job = compare.Job(None, "dssdn_tiny", "default", 0)
    out = compare.run_dir(args, job)
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps(_metrics(0.5, 0.6, 0.4)))
    calls = []
    real_run = compare.subprocess.run

    def fake_train(cmd, **kwargs):
        if cmd[0] == "git":  # code_version's questions
            return real_run(cmd, **kwargs)
        calls.append(cmd)
        (out / "metrics.json").write_text(json.dumps(_metrics(0.7, 0.8, 0.6)))
        return compare.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(compare.subprocess, "run", fake_train)
    return args, job, out, calls


def test_a_run_of_another_architecture_is_retrained(tmp_path, monkeypatch):
    """A finished run is reused only when its model name still builds the architecture it was trained with: a
    changed registered default (dssdn_small's stem and split) retrains, it is not reported under the new name."""
    args, job, out, calls = _finished_tiny_run(tmp_path, monkeypatch)
    argv = compare.train_command(args, job)[1:]
    current = compare.current_architecture("dssdn_tiny")
    assert current is not None and current["blocks"][0]["split"] == "haar"
    old = json.loads(json.dumps(current))
    for block in old["blocks"]:
        block["split"] = "band"
    (out / "compare_command.json").write_text(json.dumps({"argv": argv, "architecture": old}))
    assert compare.train_run(args, job)["accuracy"] == 0.7 and len(calls) == 1  # retrained
    assert json.loads((out / "compare_command.json").read_text())["architecture"] == current
    assert compare.train_run(args, job)["accuracy"] == 0.7 and len(calls) == 1  # now reused


def test_a_run_recorded_before_a_new_field_is_reused(tmp_path, monkeypatch):
    """An architecture stored before a ``BlockCfg`` field existed (``freq_kernel``) built the network the field's
    default builds: the run is reused, not retrained."""
    args, job, out, calls = _finished_tiny_run(tmp_path, monkeypatch)
    old = compare.current_architecture("dssdn_tiny")
    for block in old["blocks"]:
        del block["freq_kernel"]
    (out / "compare_command.json").write_text(json.dumps({"argv": compare.train_command(args, job)[1:],
                                                          "architecture": old}))
    assert compare.train_run(args, job)["accuracy"] == 0.5 and not calls  # reused
    for block in old["blocks"]:
        block["freq_kernel"] = 1  # a network of another frequency kernel: retrained
    (out / "compare_command.json").write_text(json.dumps({"argv": compare.train_command(args, job)[1:],
                                                          "architecture": old}))
    assert compare.train_run(args, job)["accuracy"] == 0.7 and len(calls) == 1


def test_a_run_recorded_before_the_check_is_judged_by_its_checkpoint(tmp_path, monkeypatch):
    """A ``compare_command.json`` without an architecture (written before the check existed): the run's ``last.pt``
    says what it trained; the same network is reused, a checkpoint without one is retrained."""
    from lightops.checkpoint import save_checkpoint

    args, job, out, calls = _finished_tiny_run(tmp_path, monkeypatch)
    (out / "compare_command.json").write_text(json.dumps({"argv": compare.train_command(args, job)[1:]}))
    ckpt = dict(model="dssdn_tiny", state_dict={}, architecture=compare.current_architecture("dssdn_tiny"))
    save_checkpoint(ckpt, out / "last.pt")
    assert compare.train_run(args, job)["accuracy"] == 0.5 and not calls  # reused
    save_checkpoint(dict(model="dssdn_tiny", state_dict={}), out / "last.pt")
    (out / "compare_command.json").write_text(json.dumps({"argv": compare.train_command(args, job)[1:]}))
    compare.train_run(args, job)
    assert len(calls) == 1  # no architecture in the checkpoint: retrained


def test_a_run_of_other_code_is_named_and_retrained_on_request(tmp_path, monkeypatch, capsys):
    """A finished run records the lightops code that trained it; reused under other code it is named (and counted
    in the block's line), and ``--retrain-changed`` retrains it."""
    args, job, out, calls = _finished_tiny_run(tmp_path, monkeypatch)
    record = dict(argv=compare.train_command(args, job)[1:], architecture=compare.current_architecture("dssdn_tiny"))
    old = dict(digest="000000000000", commit="abc1234")
    (out / "compare_command.json").write_text(json.dumps(dict(record, code=old)))
    got = compare.train_run(args, job)
    assert got["accuracy"] == 0.5 and got["code"] == old and not calls  # reused
    assert "reused, trained with other lightops code (abc1234" in capsys.readouterr().out
    rows = [dict(family=None, model="dssdn_tiny", recipe="default", seed=0, code=compare.code_label(got["code"]),
                 **run_row(got))]
    line = markdown(dict(rows=rows, command="c", date="d", machine="m")).split("\n")[2]
    assert line.endswith("Runs trained at lightops abc1234 (1).")
    args.retrain_changed = True
    got = compare.train_run(args, job)
    assert got["accuracy"] == 0.7 and len(calls) == 1  # retrained
    assert "trained with other lightops code (abc1234); retraining" in capsys.readouterr().out
    now = compare.code_version()
    assert got["code"] == now and json.loads((out / "compare_command.json").read_text())["code"] == now
    assert compare.train_run(args, job)["accuracy"] == 0.7 and len(calls) == 1  # the same code: reused quietly
    assert "other lightops code" not in capsys.readouterr().out


def test_code_version_follows_the_library_sources(tmp_path):
    (tmp_path / "lightops").mkdir()
    (tmp_path / "lightops" / "a.py").write_text("x = 1\n")
    first = compare.code_version(tmp_path)
    assert first["commit"] is None  # not a git checkout
    (tmp_path / "lightops" / "a.py").write_text("x = 2\n")
    assert compare.code_version(tmp_path)["digest"] != first["digest"]
    assert compare.code_label(None) == "unrecorded" and compare.code_label(first) == f"digest {first['digest']}"


def test_a_recipe_option_after_the_preset_wins():
    """``recipe dcase + Freq-MixStyle 0.8``: the preset first, the option after it (``lightops train`` lets the
    option given explicitly win), and the run reads it so."""
    import argparse

    from lightops.cli.train import add_arguments, config_from_args

    args = compare.parse_args(["--models", "dssdn_small", "--recipes", "recipe dcase + Freq-MixStyle 0.8"])
    cmd = compare.train_command(args, compare.Job("tau", "dssdn_small", "recipe dcase + Freq-MixStyle 0.8", 0))
    tail = cmd[cmd.index("train") + 1:]
    assert tail[-4:] == ["--recipe", "dcase", "--freq-mixstyle", "0.8"]
    cfg = config_from_args(add_arguments(argparse.ArgumentParser()).parse_args(tail[tail.index("--model"):]))
    assert (cfg.recipe, cfg.freq_mixstyle, cfg.freq_mixstyle_alpha, cfg.roll) == ("dcase", 0.8, 0.3, True)
