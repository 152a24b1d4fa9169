"""Fixtures of the training tests: a small fake TAU 2020 Mobile folder."""
import pytest

from lightops.data import make_fake_tau
from tests.train.common import SECONDS, SR


@pytest.fixture(scope="session")
def fake_tau(tmp_path_factory):
    """30 training clips (devices a, b, s1) and 40 evaluation clips (plus unseen s4), 0.5 s at 16 kHz."""
    root = tmp_path_factory.mktemp("tau")
    return make_fake_tau(root, n_per_class=2, devices=("a", "b", "s1"), eval_only_devices=("s4",),
                         clip_seconds=SECONDS, sample_rate=SR)
