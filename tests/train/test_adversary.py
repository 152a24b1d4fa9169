"""Device-adversarial training: the reversal, the features it reads, the gradient the model receives, the run."""
import pytest
import torch
import torch.nn.functional as F

import lightops
from lightops.checkpoint import ADVERSARY_KEYS, CHECKPOINT_KEYS, read_checkpoint
from lightops.train import TrainConfig, train
from lightops.train.adversary import DeviceAdversary, GradReverse, dann_ramp
from tests.train.common import TINY, assert_resumes_exactly


def test_grad_reverse_is_identity_forward_and_negated_scaled_backward():
    x = torch.randn(4, 3, requires_grad=True)
    y = GradReverse.apply(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.25 * torch.arange(3.0).expand(4, 3))


def test_dann_ramp():
    assert dann_ramp(0.0) == 0.0 and dann_ramp(1.0) == pytest.approx(0.99991, abs=1e-5)
    assert dann_ramp(0.5) == pytest.approx(2 / (1 + torch.exp(torch.tensor(-5.0)).item()) - 1)
    assert dann_ramp(-1) == 0.0 and dann_ramp(2) == dann_ramp(1)


@pytest.mark.parametrize("name", ["dssdn_small", "dcase2025_baseline"])
def test_features_are_the_classifier_input_pooled(name):
    """DSSDN's classifier reads pooled features, the baseline's a map (a 1x1 conv head): both become (B, C)."""
    from lightops._factory import build_model

    model = build_model(name, num_classes=4)
    x = torch.randn(3, 1, 64, 20)
    adv = DeviceAdversary(model, ["a", "b", "c"], 1.0, x[:1])
    seen = {}
    handle = model.get_classifier().register_forward_pre_hook(lambda m, i: seen.update(x=i[0].detach()))
    model.train()
    model(x)
    handle.remove()
    pooled = adv.pool(seen["x"])
    assert pooled.shape == (3, adv.fc.in_features)
    assert torch.allclose(pooled, seen["x"].flatten(2).mean(2) if seen["x"].dim() > 2 else seen["x"])
    assert adv.loss(torch.tensor([0, 1, 2])).isfinite()  # takes the features
    model.eval()
    model(x)  # evaluation passes keep nothing
    with pytest.raises(RuntimeError, match="no features captured"):
        adv.loss(torch.zeros(3, dtype=torch.long))
    adv.close()


def test_model_gets_the_reversed_scaled_gradient_and_the_classifier_the_plain_one():
    torch.manual_seed(0)
    model = lightops.create_model("dssdn_small", width=0.25, num_classes=4).train()
    x = torch.randn(4, 1, 64, 16)
    devices = torch.tensor([0, 1, 2, 1])
    adv = DeviceAdversary(model, ["a", "b", "c"], 0.5, x[:1])
    adv.progress = 0.3
    model(x)
    adv.loss(devices).backward()
    reversed_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    fc_grad = adv.fc.weight.grad.clone()
    # the same loss without the reversal
    model.zero_grad(set_to_none=True)
    adv.zero_grad(set_to_none=True)
    captured = {}
    handle = model.get_classifier().register_forward_pre_hook(lambda m, i: captured.update(x=i[0]))
    model(x)
    handle.remove()
    adv._features = None
    F.cross_entropy(adv.fc(adv.pool(captured["x"])), devices).backward()
    scale = 0.5 * dann_ramp(0.3)
    assert reversed_grads, "the adversary's loss reached no model parameter"
    for n, p in model.named_parameters():
        if p.grad is not None and n in reversed_grads:
            assert torch.allclose(reversed_grads[n], -scale * p.grad, atol=1e-6, rtol=1e-4), n
    assert torch.allclose(fc_grad, adv.fc.weight.grad)
    adv.close()


def test_refusals():
    model = lightops.create_model("dssdn_small", width=0.25, num_classes=4)
    x = torch.randn(1, 1, 64, 16)
    with pytest.raises(ValueError, match="at least two devices"):
        DeviceAdversary(model, ["a"], 1.0, x)
    with pytest.raises(ValueError, match="weight must be > 0"):
        DeviceAdversary(model, ["a", "b"], 0.0, x)
    adv = DeviceAdversary(model, ["a", "b"], 1.0, x)
    with pytest.raises(ValueError, match=r"devices \['s9'\] are not among the training devices"):
        adv.targets(["a", "s9"], torch.device("cpu"))
    adv.close()
    with pytest.raises(ValueError, match="device_adversarial"):
        TrainConfig(device_adversarial=-1.0)


def test_run_trains_the_adversary_saves_it_and_resumes_exactly(tmp_path):
    """With mixup (default recipe) the device targets are mixed like the labels; the classifier is saved beside the
    model for --resume, which continues the run bit for bit; the model's weights differ from a run without it."""
    kw = dict(TINY, epochs=2, device_adversarial=1.0)
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    ckpt = read_checkpoint(tmp_path / "full" / "last.pt")
    assert set(ckpt) == set(CHECKPOINT_KEYS) | set(ADVERSARY_KEYS)
    devices = ckpt["train_devices"]
    assert ckpt["device_adversary"]["fc.weight"].shape[0] == len(devices) >= 2
    resumed = assert_resumes_exactly(tmp_path / "part", kw, ckpt, ("state_dict", "device_adversary"))
    assert resumed["accuracy"] == full["accuracy"]
    plain = train(TrainConfig(out=str(tmp_path / "plain"), **dict(kw, device_adversarial=0.0)))
    assert plain["params_sha256"] != full["params_sha256"]  # the adversary's gradient reached the model
    # the reloaded model is the plain architecture: no hook, no extra parameters
    assert "device_adversary" not in read_checkpoint(tmp_path / "plain" / "last.pt")
    assert set(ckpt["state_dict"]) == set(read_checkpoint(tmp_path / "plain" / "last.pt")["state_dict"])


def test_mixup_mixes_the_device_targets_like_the_labels_and_the_teacher():
    """Under mixup, each clip's device target is the same mix of its own device and its partner's as its label."""
    from lightops.audio import FrontEnd
    from lightops.train.distributed import DistEnv
    from lightops.train.engine import Engine

    model = lightops.create_model("dssdn_small", width=0.25, num_classes=5)
    frontend = FrontEnd(16000, 512, 256, 64)
    adv = DeviceAdversary(model, ["a", "b", "c"], 1.0, torch.zeros(1, 1, 64, 16))
    engine = Engine(model=model, raw_model=model, frontend=frontend, optimizer=None, scheduler=None, losses=[],
                    env=DistEnv(), num_classes=5, mixup_alpha=1.0, adversary=adv,
                    teacher=lambda index: F.one_hot(index, 5).float())
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    devices = ["a", "b", "c", "a", "b", "c"]
    _, target, _, teacher, device_target = engine.inputs(torch.randn(6, 8000), labels, torch.arange(6) % 5,
                                                         torch.Generator().manual_seed(3), devices)
    assert device_target.shape == (6, 3) and torch.allclose(device_target.sum(1), torch.ones(6))
    # the label's mix weights (lam on the clip's own class) are the device target's on the clip's own device
    own_label = target[torch.arange(6), labels]
    own_device = device_target[torch.arange(6), adv.targets(devices, torch.device("cpu"))]
    own_teacher = teacher[torch.arange(6), labels]
    lam = own_label.min()
    assert 0 < lam < 1
    assert torch.allclose(own_device.min(), lam) and torch.allclose(own_teacher, own_label)
    assert not torch.equal(device_target, F.one_hot(adv.targets(devices, torch.device("cpu")), 3).float())
    adv.close()
