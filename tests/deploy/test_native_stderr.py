"""filtered_stderr drops the native CPU-probe lines written to file descriptor 2 and writes back everything else,
also when the body raises; loading a .pte prints none of them."""
import os
import sys

import pytest

from lightops.deploy.native_stderr import filtered_stderr

PROBE = b"[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version\n"


def _native_write(data: bytes) -> None:
    os.write(sys.__stderr__.fileno(), data)  # as C++ writes it: below sys.stderr


def test_drops_probe_lines_and_keeps_the_rest(capfd):
    with filtered_stderr():
        _native_write(PROBE + b"E00:00 real error\n" + PROBE.replace(b"71", b"125"))
        print("from python", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cpuinfo_utils" not in err
    assert "E00:00 real error" in err and "from python" in err


def test_writes_back_when_the_body_raises(capfd):
    with pytest.raises(RuntimeError, match="load failed"):
        with filtered_stderr():
            _native_write(PROBE + b"native: bad program\n")
            raise RuntimeError("load failed")
    err = capfd.readouterr().err
    assert "native: bad program" in err and "cpuinfo_utils" not in err
    _native_write(b"after\n")  # descriptor 2 is back where it was
    assert "after" in capfd.readouterr().err


def test_loading_a_program_prints_no_probe_lines(tmp_path, capfd):
    pytest.importorskip("executorch")
    import subprocess

    import lightops
    from lightops.deploy.executorch import export_executorch

    pte = str(tmp_path / "tiny.pte")

    export_executorch(lightops.create_model("dssdn_small", width=0.25).eval(), pte, input_size=(1, 64, 48))
    code = f"from lightops.deploy.executorch import load_pte; load_pte({pte!r})"  # a fresh process: the first load
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "cpuinfo_utils" not in err, err


def test_without_a_descriptor_2_the_body_runs_unfiltered(monkeypatch):
    """A host whose standard error has no file descriptor (an embedding, a closed fd 2): nothing to capture."""

    class NoFileno:
        def fileno(self):
            raise OSError("no descriptor")

    monkeypatch.setattr(sys, "__stderr__", NoFileno())
    ran = []
    with filtered_stderr():
        ran.append(1)
    assert ran == [1]
