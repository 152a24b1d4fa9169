"""``lightops eval A B``: an ensemble of checkpoints is evaluated on its members' mean logits; members that do not
fit together are refused by name."""
import json
import os

import pytest
import torch
import torch.nn.functional as F

from lightops.audio import FrontEnd
from lightops.checkpoint import load_model, read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.train import TrainConfig
from lightops.train.data import build_datasets
from lightops.train.evaluation import MeanLogits


def _perturbed(ckpt_path, out):
    """A second member: the same checkpoint with its convolution and linear weights moved by noise."""
    ckpt = read_checkpoint(ckpt_path)
    gen = torch.Generator().manual_seed(1)
    ckpt["state_dict"] = {k: v + 0.5 * v.abs().mean() * torch.randn(v.shape, generator=gen)
                          if v.is_floating_point() and v.dim() > 1 else v for k, v in ckpt["state_dict"].items()}
    save_checkpoint(ckpt, out)
    return str(out)


def _logits(path, root):
    """Logits of one checkpoint on the evaluate split of ``root``, and the labels."""
    ckpt = read_checkpoint(path)
    _, eval_set = build_datasets(TrainConfig.from_dict(dict(ckpt["args"], data=root, resume=False)))
    model, fe = load_model(ckpt).model.eval(), FrontEnd.from_config(ckpt["frontend"]).eval()
    waves, labels = zip(*[(w, y) for w, y, _ in (eval_set[i] for i in range(len(eval_set)))])
    with torch.no_grad():
        return model(fe(torch.stack(waves))).float(), torch.tensor(labels)


def test_an_ensemble_is_scored_on_the_mean_of_its_members_logits(trained_tau_run, tmp_path):
    root, a, _ = trained_tau_run
    b = _perturbed(a, tmp_path / "b.pt")
    (la, labels), (lb, _) = _logits(a, root), _logits(b, root)
    mean = (la + lb) / 2
    assert not torch.allclose(la, lb, atol=1e-3)  # the members differ
    assert main(["eval", a, b, "--data", root, "--out", str(tmp_path / "ens"), "--quiet"]) == 0
    m = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert m["log_loss"] == pytest.approx(float(F.cross_entropy(mean, labels)), rel=1e-4)
    assert m["accuracy"] == pytest.approx(float((mean.argmax(1) == labels).double().mean()))
    assert m["checkpoint"] == [os.path.abspath(a), os.path.abspath(b)]
    assert m["model"] == ["dssdn_small", "dssdn_small"]
    assert "unseen" in m and m["data"]["train_devices"] == read_checkpoint(a)["train_devices"]


def test_mean_logits_is_the_mean_of_its_members():
    gen = torch.Generator().manual_seed(0)
    members = [torch.nn.Linear(4, 3) for _ in range(3)]
    x = torch.randn(5, 4, generator=gen)
    assert torch.allclose(MeanLogits(members)(x), torch.stack([m(x) for m in members]).mean(0))
    with pytest.raises(ValueError, match="at least one member"):
        MeanLogits([])


def test_members_that_do_not_fit_together_are_refused_by_name(trained_tau_run, tmp_path):
    root, a, _ = trained_tau_run
    twin = str(tmp_path / "twin.pt")  # another file with the same model: a valid second member
    save_checkpoint(read_checkpoint(a), twin)
    with pytest.raises(SystemExit, match="needs an output folder"):
        main(["eval", a, twin, "--data", root, "--quiet"])
    other = read_checkpoint(a)
    other["frontend"] = dict(other["frontend"], n_mels=other["frontend"]["n_mels"] // 2)
    save_checkpoint(other, tmp_path / "mels.pt")
    with pytest.raises(SystemExit, match=r"mels\.pt.*another front end"):
        main(["eval", a, str(tmp_path / "mels.pt"), "--data", root, "--out", str(tmp_path / "x"), "--quiet"])
    other = read_checkpoint(a)
    other["classes"] = list(reversed(other["classes"]))
    save_checkpoint(other, tmp_path / "classes.pt")
    with pytest.raises(SystemExit, match=r"classes\.pt"):
        main(["eval", a, str(tmp_path / "classes.pt"), "--data", root, "--out", str(tmp_path / "x"), "--quiet"])
    with pytest.raises(SystemExit, match="not an ensemble"):
        main(["eval", a, twin, "--data", root, "--out", str(tmp_path / "x"), "--dtype", "fp16", "--quiet"])
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_named_twice_is_refused_as_member_and_as_teacher(trained_tau_run, tmp_path):
    """The same file twice (under two spellings) would weigh double in the mean: eval and distillation refuse it."""
    from lightops.train.teacher import check_distinct, check_teachers

    _, ckpt, _ = trained_tau_run
    other = os.path.join(os.path.dirname(ckpt), ".", os.path.basename(ckpt))
    with pytest.raises(SystemExit, match="is given twice"):
        main(["eval", ckpt, other, "--out", str(tmp_path / "ens"), "--quiet"])
    assert not (tmp_path / "ens").exists()
    with pytest.raises(ValueError, match=r"teacher .* is given twice"):
        check_teachers([ckpt, other], [], {})
    check_distinct([ckpt, str(tmp_path / "b.pt")], "teacher")  # distinct files pass
