"""Budgets and fitting a model's width to one."""
import pytest

import lightops
from lightops.profiling.budget import BUDGETS, DCASE_MAX_MACS, DCASE_MAX_PARAMS, check_budget, fit_budget


@pytest.mark.parametrize("name", lightops.list_models())
def test_every_model_within_its_budget(name):
    check = check_budget(lightops.create_model(name), BUDGETS[name])
    assert check.ok, str(check)
    assert "WITHIN BUDGET" in str(check)


@pytest.mark.parametrize("name,max_params,max_macs,size", [
    ("dssdn_small", DCASE_MAX_PARAMS, DCASE_MAX_MACS, (1, 256, 44)),
    ("dssdn_middle", 60_000, 10_000_000, (1, 128, 44)),
])
def test_fit_budget_is_tight(name, max_params, max_macs, size):
    fit = fit_budget(name, max_params=max_params, max_macs=max_macs, input_size=size)
    assert fit.check.ok
    assert sum(p.numel() for p in fit.model.parameters()) <= max_params and fit.model.macs(size) <= max_macs
    wider = lightops.create_model(name, width=fit.width * 1.05)
    over = check_budget(wider, fit.check.budget)
    assert not over.ok, f"width {fit.width:.3f} + 5 % still fits: {over}"


def test_fit_budget_impossible():
    with pytest.raises(ValueError, match="does not fit"):
        fit_budget("dssdn_large", max_params=100, max_macs=1000)
