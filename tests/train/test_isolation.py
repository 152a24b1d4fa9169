"""train() called as a library function leaves process-wide state as it found it; old names still resolve."""
import random

import numpy as np
import pytest
import torch

import lightops
from lightops.train import TrainConfig, train
from tests.train.common import TINY


def test_train_restores_threads_and_global_generators(tmp_path):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    train(TrainConfig(**dict(TINY, out=str(tmp_path / "run"), epochs=1, threads=threads + 1)))
    assert torch.get_num_threads() == threads
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected


@pytest.mark.parametrize("old,new", [
    ("train_main", "lightops.cli.train:main"), ("eval_main", "lightops.cli.eval:main"),
    ("add_train_parser", "lightops.cli.train:add_parser"), ("FrontEnd", "lightops.audio:FrontEnd"),
    ("atomic_save", "lightops.fileio:atomic_save"), ("dcase2020_baseline", "lightops.models:dcase2020_baseline"),
])
def test_moved_names_warn_and_resolve(old, new):
    import importlib

    module, name = new.split(":")
    with pytest.warns(DeprecationWarning, match=old):
        value = getattr(lightops.train, old)
    assert value is getattr(importlib.import_module(module), name)


def test_stems_audio_names_moved():
    with pytest.warns(DeprecationWarning, match="lightops.audio"):
        assert lightops.stems.LogMel is lightops.audio.LogMel
