"""train() called as a library function leaves process-wide state as it found it."""
import random

import numpy as np
import torch

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

