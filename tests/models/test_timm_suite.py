"""timm's own model tests (tests/test_models.py of the pinned timm's source distribution) over the DSSDN models
and the DCASE 2025 baseline.

``make test``'s set-up downloads timm's sdist for the pinned version and extracts the file into
``.venv/timm-src/`` (no copy lives in this repository). The test runs it in a subprocess with a conftest that
imports lightops (so the models are registered before timm's module parametrises over ``list_models()``),
selecting ``dssdn`` and ``dcase2025_baseline``, and checks that every test that applies ran and passed.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm

import lightops

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / ".venv" / "timm-src" / f"timm-{timm.__version__}" / "tests" / "test_models.py"

# The tests of timm's file that apply to a model without pretrained weights, each run for every DSSDN variant and
# dcase2025_baseline.
EXPECTED = ("test_model_forward", "test_model_backward", "test_model_default_cfgs", "test_model_forward_torchscript",
            "test_model_forward_features", "test_model_forward_fx", "test_model_backward_fx",
            "test_model_forward_fx_torchscript")


@pytest.mark.slow
def test_timm_model_suite_passes_for_dssdn_and_the_dcase2025_baseline(tmp_path):
    if not SUITE.is_file():
        pytest.fail(f"{SUITE} is missing: `make test` extracts timm's tests/test_models.py for timm "
                    f"{timm.__version__} at set-up (see the Makefile)")
    shutil.copy(SUITE, tmp_path / "test_models.py")
    (tmp_path / "conftest.py").write_text("import lightops  # noqa: F401  (registers the models in timm)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_models.py", "-k", "dssdn or dcase2025_baseline", "-q",
                           "-rA", "-p", "no:cacheprovider", "-p", "no:audioeval", "-W", "ignore", "--no-header"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    results = dict((m.group(2), m.group(1)) for m in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED) test_models\.py::"
                                                                   r"(\S+)", proc.stdout, re.M))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert not [k for k, v in results.items() if v != "PASSED"], results
    ran = {(re.sub(r"\[.*", "", k), k.rsplit("-", 1)[-1].rstrip("]")) for k in results}
    expected = {(t, m) for t in EXPECTED for m in lightops.list_models() + ["dcase2025_baseline"]}
    assert expected <= ran, f"not run: {sorted(expected - ran)}"
