"""``python -m benchmarks.bench_runtimes``: ratios of alternating rounds and the docs table, over fake timings."""
import pytest

from benchmarks import bench_runtimes


def test_ratios_are_medians_of_per_round_ratios_and_the_table_names_them(tmp_path):
    times = {"mobilenetv3_small_100 onnxruntime fp32": [1.0, 2.0, 1.0],
             "mobilenetv3_small_100 torchscript fp32": [2.0, 2.0, 2.0],
             "m onnxruntime fp32": [2.0, 2.0, 3.0],
             "m onnxruntime int8": [1.0, 1.0, 1.5],
             "m executorch fp32": [1.0, 1.0, 1.0],
             "m torchscript fp32": [3.0, 3.0, 3.0]}
    rows = {(r["model"], r["runtime"], r["dtype"]): r for r in bench_runtimes.summarise(times)}
    assert rows[("m", "onnxruntime", "fp32")]["ratio_reference"] == pytest.approx(2.0)  # median of 2, 1, 3
    assert rows[("m", "onnxruntime", "int8")]["ratio_fp32"] == pytest.approx(0.5)
    assert rows[("m", "onnxruntime", "int8")]["ratio_reference"] == pytest.approx(1.0)  # to the fp32 reference
    assert rows[("m", "torchscript", "fp32")]["ratio_reference"] == pytest.approx(1.5)
    assert rows[("m", "executorch", "fp32")]["ratio_reference"] is None  # no reference in that runtime
    results = dict(clip="1s", input_size=[1, 256, 44], threads=2, int8_form="speed", rounds=3, runs=5,
                   command="python -m benchmarks.bench_runtimes --threads 0 ", date="d", machine="x",
                   versions={"torch": "t"}, rows=list(rows.values()),
                   exports={"m executorch fp32": {"delegation": {"portable": {"avg_pool2d": 1}}},
                            "n torchscript fp32": {"error": "freeze: N does not script"}})
    text = bench_runtimes.markdown(results)
    assert "2 threads" in text and "`python -m benchmarks.bench_runtimes --threads 0`" in text
    assert "| m | onnxruntime | int8 | 1.00 | 1.00 | 0.50 |  |" in text
    assert "| m | executorch | fp32 | 1.00 |  |  | 1 avg_pool2d |" in text
    assert "No row: n torchscript fp32 (freeze: N does not script)." in text
    bench_runtimes.figure(results, str(tmp_path / "bench.png"))
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
