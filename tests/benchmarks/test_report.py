"""benchmarks.docs.report and bench_rows render tables, targets and the figure from a small pytest-benchmark JSON."""
import json

import pytest

from benchmarks.docs import bench_rows, report
from benchmarks.docs.blocks import markers

PEAK = 10e9  # MAC/s


def _bench(group, label, median_s, macs, params, reference=False, **info):
    return {"group": group, "name": f"test[{label}]", "stats": {"median": median_s, "min": 0.8 * median_s},
            "extra_info": dict(label=label, macs=macs, params=params, reference=reference, **info)}


def _data():
    g1, g2 = "op 32x64x22 (dssdn_small block 1, 1s)", "model 1s (1, 256, 44)"
    shape = dict(shape=[32, 64, 22])
    return {
        "machine_info": {"python_version": "3.11", "lightops": {
            "peak": {"peak_macs_per_s": PEAK, "gflops_best": 20.0, "conv_gflops_best": 18.0, "sgemm_n": 1024},
            "torch": "2.x", "threads": 1, "cpu_model": "test cpu", "cpu_count": 2, "mkldnn_enabled": True,
            "allocator": {"libc": "glibc 2.36", "replacement": None, "mallopt": {"M_MMAP_THRESHOLD": 33554432},
                          "env": {"MALLOC_ARENA_MAX": None}},
            "quick": True, "load_start": [0.5, 0.4, 0.3], "load_end": [0.6, 0.5, 0.4],
            "start": "2024-01-01T00:00:00", "end": "2024-01-01T00:01:00"}},
        "lightops_pairs": [dict(kind="op", group=g1, a="sc", a_mode="fused", b="dwsep", b_mode="eager", goal=1.2,
                                ratio=1.25, a_s=250e-6, b_s=200e-6, rounds=11, calls=20)],
        "benchmarks": [
            _bench(g1, "SC", 300e-6, 1_700_000, 1216, kind="op", op="sc", mode="eager", **shape),
            _bench(g1, "depthwise-separable (timm)", 200e-6, 1_850_000, 1312, True, kind="peer", op="dwsep",
                   mode="eager", **shape),
            _bench(g1, "SC (fused)", 220e-6, 1_700_000, 1216, kind="op", op="sc", mode="fused", **shape),
            _bench(g1, "SPC", 150e-6, 158_000, 112, kind="op", op="spc", mode="eager", **shape),
            _bench(g2, "mobilenetv3_small_050", 4e-3, 20_000_000, 570_000, True, kind="model",
                   model="mobilenetv3_small_050", mode="eager", clip="1s"),
            _bench(g2, "dssdn_small", 8e-3, 14_700_000, 101_513, kind="model", model="dssdn_small", mode="eager",
                   clip="1s"),
            _bench(g2, "dssdn_small (fused)", 3e-3, 14_700_000, 101_513, kind="model", model="dssdn_small",
                   mode="fused", clip="1s"),
        ],
    }


def test_rows_ratios_and_order():
    groups = bench_rows.group_rows(bench_rows.rows_from(_data()))
    ops = groups["op 32x64x22 (dssdn_small block 1, 1s)"]
    assert ops[0].reference and ops[0].ratio == pytest.approx(1.0)
    sc = next(r for r in ops if r.label == "SC")
    assert sc.ratio == pytest.approx(1.5)
    assert [r.label for r in ops] == ["depthwise-separable (timm)", "SC", "SC (fused)", "SPC"]


def test_render_tables_targets_and_notes(tmp_path):
    page = tmp_path / "benchmarks.md"
    begin, end = markers(report.NOTES)
    page.write_text(f"old\n{begin}\nkeep me\n{end}\n")
    text = report.render(_data(), notes=report.existing_notes(page), png_name="fig.png")
    assert "| **depthwise-separable (timm)** (ref.) | 200.0 us | 1.00x | 160.0 us | 1.00x | 1,312 |" in text
    assert "| SC | 300.0 us | 1.50x | 240.0 us | 1.50x | 1,216 | 1.7 M |" in text
    assert "| SC (eager) / depthwise-separable <= 1.2x | 0/1 shapes; worst 1.50x" in text
    assert "| SC (fused) / depthwise-separable <= 1.2x | 1/1 shapes; worst 1.10x, geo-mean 1.10x | met |" in text
    assert "0/1 shapes; worst 1.25x, geo-mean 1.25x — missed by up to 4% |" in text  # timed in alternation
    assert "| shape | SC fused / dwsep (<= 1.2) |" in text
    assert "| 32x64x22 (dssdn_small block 1, 1s) | 1.25! |" in text
    assert "| SPC (eager) <= SC (eager), same shape | 1/1 shapes; worst 0.50x, geo-mean 0.50x | met |" in text
    assert "faster than mobilenetv3_small_050 (eager) | 3.00 ms vs 4.00 ms = 0.75x | met |" in text
    assert "| dssdn_small (eager) MAC/s on the 1-s clip >= 10 % of peak | 1.84 GMAC/s = 18.4 % of peak | met |" \
        in text
    assert "keep me" in text and "![MACs against latency" in text and "test cpu" in text
    assert "| dssdn_small (fused) | 3.00 ms | 0.75x | 2.40 ms | 0.75x | 101,513 | 14.7 M | 4.9 G | 49.0 |" in text


def test_allocator_table_and_merge():
    a, b = _data(), _data()
    b["benchmarks"] = [dict(x, stats={"median": x["stats"]["median"] / 2}) for x in b["benchmarks"]]
    text = report.allocator_table({"default": bench_rows.rows_from(a), "mallopt": bench_rows.rows_from(b)})
    assert "mallopt vs default" in text.splitlines()[0]
    assert "2.00x" in text
    merged = bench_rows.merge([a, b])
    assert len(merged["benchmarks"]) == 2 * len(a["benchmarks"])
    best = bench_rows.best_of([a, b])
    assert [x["stats"]["median"] for x in best["benchmarks"]] == [x["stats"]["median"] for x in b["benchmarks"]]


def test_main_writes_page(tmp_path):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps(_data()))
    out = tmp_path / "b.md"
    assert report.main([str(src), "--out", str(out), "--png", ""]) == 0
    assert out.read_text().startswith("# Benchmarks") and "![" not in out.read_text()


def test_bubble_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "b.png"
    report.bubble_png(_data(), png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_formatting():
    assert bench_rows.fmt_time(1.5e-3) == "1.50 ms" and bench_rows.fmt_time(12.34e-6) == "12.3 us"
    assert bench_rows.fmt_count(14_695_344) == "14.7 M" and bench_rows.fmt_count(875_490_832) == "875 M"
    assert bench_rows.fmt_ratio(None) == "—" and bench_rows.fmt_ratio(1.234) == "1.23x"
