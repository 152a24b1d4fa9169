"""The OSC penalty is part of the training loss: soft OSC rows end measurably closer to orthonormal with it."""
import lightops
from lightops.checkpoint import load_model
from lightops.train import TrainConfig, train
from lightops.train.losses import OrthoPenalty, build_losses
from tests.train.common import TINY


def _penalty_after(tmp_path, alpha):
    out = tmp_path / f"alpha{alpha}"
    cfg = TrainConfig(**dict(TINY, model="dssdn_middle", out=str(out), epochs=2, ortho_alpha=alpha, lr=0.05))
    train(cfg)
    return float(lightops.ortho_reg_loss(load_model(out / "last.pt").model, 1.0).detach())


def test_penalty_pulls_rows_towards_orthonormal(tmp_path):
    without, with_penalty = _penalty_after(tmp_path, 0.0), _penalty_after(tmp_path, 5.0)
    assert with_penalty < 0.8 * without, (with_penalty, without)


def test_losses_include_the_penalty_for_soft_osc_only():
    middle = lightops.create_model("dssdn_middle", width=0.25)
    small = lightops.create_model("dssdn_small", width=0.25)
    kinds = [type(c) for c in build_losses(middle, mixup=True, label_smoothing=0.0, ortho_alpha=0.1)]
    assert OrthoPenalty in kinds
    assert OrthoPenalty not in [type(c) for c in build_losses(small, mixup=True, label_smoothing=0.0,
                                                              ortho_alpha=0.1)]
