"""latency() and the allocator helpers: fields, restored state, argument checks (correctness, not speed)."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import lightops
from lightops.profiling import allocator_info, configure_malloc, latency

GLIBC = allocator_info().glibc_malloc
ROOT = Path(__file__).resolve().parents[2]


def test_latency_fields_are_sane():
    r = latency(lightops.SC(4, 4), (4, 6, 6), warmup=1, repeats=5, min_time=0.0)
    assert r.repeats == 5 == len(r.samples_ms) and r.warmup == 1
    assert 0 < r.min_ms <= r.p10_ms <= r.median_ms <= r.p90_ms <= r.max_ms
    assert r.iqr_ms >= 0 and r.stdev_ms >= 0 and r.min_ms <= r.mean_ms <= r.max_ms
    assert (r.threads, r.device, r.batch_size, r.input_size) == (1, "cpu", 1, (4, 6, 6))
    assert r.torch_version == torch.__version__
    assert set(r.allocator.env) >= {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX",
                                     "LD_PRELOAD"}
    assert "ms median" in str(r)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["repeats"] == 5 and d["allocator"]["glibc_malloc"] == GLIBC


def test_min_time_extends_repeats_up_to_the_cap():
    r = latency(lightops.SC(2, 2), (2, 3, 3), warmup=0, repeats=1, min_time=0.02, max_repeats=100_000)
    assert sum(r.samples_ms) >= 20.0 or r.repeats == 100_000
    capped = latency(lightops.SC(2, 2), (2, 3, 3), warmup=0, repeats=1, min_time=10.0, max_repeats=3)
    assert capped.repeats == 3


def test_thread_count_and_training_flags_restored():
    op = lightops.SPC(8, 8, norm_layer="batchnorm2d").train()
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        r = latency(op, (8, 4, 4), warmup=0, repeats=2, min_time=0.0, threads=1)
        assert r.threads == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert all(m.training for m in op.modules())


@pytest.mark.parametrize("kw", [dict(repeats=0), dict(warmup=-1), dict(threads=0), dict(min_time=-1.0),
                                dict(batch_size=0)])
def test_latency_rejects_bad_arguments(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        latency(lightops.SC(2, 2), (2, 3, 3), **kw)


def test_allocator_info_reads_environment(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    info = allocator_info()
    assert info.env["MALLOC_ARENA_MAX"] == "2" and info.env["MALLOC_MMAP_THRESHOLD_"] is None
    assert info.glibc_malloc == (info.libc.startswith("glibc") and info.replacement is None)


@pytest.mark.skipif(not GLIBC, reason="glibc malloc not in use")
def test_configure_malloc_applies_and_is_recorded():
    """Run in a fresh interpreter: malloc settings are process-wide and would leak into the other tests."""
    code = textwrap.dedent("""
        import json
        import lightops
        from lightops.profiling import allocator_info, configure_malloc, latency
        before = allocator_info().mallopt
        cfg = configure_malloc(mmap_threshold=32 * 2**20, trim_threshold=2**30)
        r = latency(lightops.SC(2, 2), (2, 3, 3), warmup=0, repeats=1, min_time=0.0)
        print(json.dumps(dict(before=before, applied=cfg.applied, truth=bool(cfg), detail=cfg.detail,
                              after=allocator_info().mallopt, recorded=r.allocator.mallopt,
                              nothing=configure_malloc(None, None).applied)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    settings = {"M_MMAP_THRESHOLD": 32 * 2**20, "M_TRIM_THRESHOLD": 2**30}
    assert res["before"] == {} and res["applied"] and res["truth"] and res["detail"] == "ok"
    assert res["after"] == settings == res["recorded"]
    assert res["nothing"]  # nothing asked, nothing refused


@pytest.mark.skipif(GLIBC, reason="glibc malloc in use")
def test_configure_malloc_is_a_no_op_without_glibc():
    cfg = configure_malloc()
    assert not cfg.applied and cfg.detail.startswith("not applied")


@pytest.mark.parametrize("kw,exc", [(dict(mmap_threshold=-5), ValueError), (dict(trim_threshold=2**31), ValueError),
                                    (dict(mmap_threshold=1.5), TypeError)])
def test_configure_malloc_rejects_bad_values(kw, exc):
    with pytest.raises(exc, match="M_"):
        configure_malloc(**kw)
