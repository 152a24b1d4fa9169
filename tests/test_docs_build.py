"""The documentation site builds with ``mkdocs build --strict``, and the code on its guide pages runs."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")

# Every page's ```python blocks are complete programs, run top to bottom in one namespace per page (README.md too).
# A block right after the line "<!-- skip-run -->" is left out (e.g. one that needs a data set on disk).
RUNNABLE_PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")) + ["../README.md"]
BLOCK_RE = re.compile(r"^(?P<skip><!-- skip-run -->\n)?```python\n(?P<code>.*?)^```", re.M | re.S)


def _missing_docs_packages():
    missing = []
    for name in DOCS_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def _env():
    # One intra-op thread: the examples are tiny, and spinning OpenMP threads only compete on a shared machine.
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NO_MKDOCS_2_WARNING="1")


@pytest.mark.skipif(bool(_missing_docs_packages()),
                    reason=f"docs packages not installed ({', '.join(_missing_docs_packages())}); "
                           "pip install -e '.[docs]'")
def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout[-5000:] + proc.stderr[-5000:]
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    for page in ("index.html", "getting-started/index.html", "api/ops/index.html", "api/models/index.html"):
        assert (tmp_path / "site" / page).is_file(), f"{page} missing from the built site"
    api = (tmp_path / "site" / "api" / "ops" / "index.html").read_text()
    assert "SeparableConv2d" in api and "create_op" in api, "the API reference was not generated from docstrings"


def test_runnable_pages_found():
    assert {"getting-started.md", "guides/custom-nets.md", "guides/custom-operator.md"} <= set(RUNNABLE_PAGES)


def test_guide_code_blocks_run(tmp_path):
    pages = {}
    for page in RUNNABLE_PAGES:
        blocks = [m["code"] for m in BLOCK_RE.finditer((DOCS / page).read_text()) if not m["skip"]]
        if blocks:
            pages[page] = "\n".join(blocks)
    runner = (
        "import json, sys, traceback\n"
        "pages = json.loads(sys.stdin.read())\n"
        "failed = []\n"
        "for page, code in pages.items():\n"
        "    try:\n"
        "        exec(compile(code, page, 'exec'), {'__name__': '__main__'})\n"
        "    except Exception:\n"
        "        failed.append(page + ':\\n' + traceback.format_exc(limit=3))\n"
        "print('\\n'.join(failed), file=sys.stderr)\n"
        "sys.exit(1 if failed else 0)\n"
    )
    env = dict(_env(), PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", runner], input=json.dumps(pages), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"code on these pages failed:\n{proc.stderr[-6000:]}"
