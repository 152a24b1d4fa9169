"""Fixtures of the deployment tests: models whose BatchNorms hold non-trivial statistics."""
import pytest
import torch
import torch.nn as nn

import lightops

SMALL_INPUT = (1, 64, 32)  # (C, F, T): enough bins for five halvings, two frames after the last time pooling


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random running statistics and affine parameters, so that folding is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.3 * torch.randn(n, generator=gen))
    return model


def make_model(name: str, seed: int = 0, **kwargs) -> nn.Module:
    """``lightops.create_model(name, **kwargs)`` in eval mode, its norms as a trained model's: random affine
    parameters, running statistics estimated on the inputs the tests use (short and 1-s clips), so that
    activations and logits have realistic scales."""
    torch.manual_seed(seed)
    model = randomize_norms(lightops.create_model(name, **kwargs), seed)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model(torch.randn(4, 1, 64, 48, generator=gen))
        model(torch.randn(2, 1, 256, 44, generator=gen))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


@pytest.fixture(scope="session")
def small_model() -> nn.Module:
    """dssdn_small with randomized norms (shared; do not modify)."""
    return make_model("dssdn_small")

