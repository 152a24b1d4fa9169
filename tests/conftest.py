"""Shared test settings: a bounded hypothesis profile for CI, one intra-op thread per worker; shared fixtures."""
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_tau_run(tmp_path_factory):
    """A tiny dssdn_small trained one epoch on a fake TAU folder: ``(folder, checkpoint path, metrics dict)``."""
    from lightops.data import make_fake_tau
    from lightops.train import TrainConfig, train
    from tests.train.common import SECONDS, SR, TINY

    root = make_fake_tau(tmp_path_factory.mktemp("tau"), n_per_class=2, devices=("a", "b"),
                         eval_only_devices=("s4",), clip_seconds=SECONDS, sample_rate=SR)
    out = tmp_path_factory.mktemp("run")
    kw = {k: v for k, v in TINY.items() if k not in ("num_clips", "num_eval_clips")}
    metrics = train(TrainConfig(data=root, out=str(out), epochs=1, overwrite=True, **kw))
    return root, str(out / "last.pt"), metrics
