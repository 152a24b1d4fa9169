"""The command line and the generated documentation tables."""
from pathlib import Path

import pytest

import lightops
from lightops import cli

ROOT = Path(__file__).resolve().parents[1]


def test_ops_table(capsys):
    assert cli.main(["ops", "--chs", "64"]) == 0
    out = capsys.readouterr().out
    for name in lightops.list_ops():
        assert name in out
    assert "30,965,760" in out  # SC, 64 -> 64 on (64, 64, 108)


@pytest.mark.parametrize("page", ["docs/models.md", "README.md"])
def test_budget_table_matches_docs(capsys, page):
    assert cli.main(["budget", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    docs = (ROOT / page).read_text()
    start, end = docs.index("<!-- budget-table:start -->"), docs.index("<!-- budget-table:end -->")
    assert docs[start:end].split("\n", 1)[1].strip() == table, "regenerate with `lightops budget --markdown`"
    assert "OVER" not in table


def test_bad_input_size_argument():
    with pytest.raises(SystemExit):
        cli.main(["ops", "--input", "64,x,3"])


@pytest.mark.parametrize("name", lightops.list_models())
def test_summary(name, capsys):
    assert cli.main(["summary", name, "--input", "1,64,48"]) == 0
    out = capsys.readouterr().out
    model = lightops.create_model(name)
    for row in ("stem", "blocks.0", "blocks.4", "head.fc"):
        assert row in out
    assert f"{model.macs((1, 64, 48)):,}" in out  # total on the given input
    assert "torchinfo mult-adds" in out and "WITHIN BUDGET" in out


def test_summary_depth_and_errors(capsys):
    assert cli.main(["summary", "dssdn_small", "--input", "1,64,48", "--depth", "3"]) == 0
    out = capsys.readouterr().out
    assert "merge" in out and "SeparablePartialConv2d" in out
    with pytest.raises(SystemExit, match="unknown model"):
        cli.main(["summary", "dssdn_nano"])
    with pytest.raises(SystemExit, match="F >= 33"):
        cli.main(["summary", "dssdn_small", "--input", "1,16,48"])
