"""`lightops predict` refuses what it cannot classify: one line naming the file or argument, a non-zero exit, and no
partial output presented as complete."""
import io

import numpy as np
import pytest
import soundfile as sf

from lightops.cli import main


def test_non_finite_file_is_listed_like_an_unreadable_one(trained_tau_run, tmp_path, capsys):
    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "ok.wav", np.zeros(8000, dtype=np.float32), 16000)
    wave = np.zeros(8000, dtype=np.float32)
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 16000, subtype="FLOAT")
    out, errors = tmp_path / "p.csv", tmp_path / "errors.tsv"
    assert main(["predict", ckpt, str(tmp_path / "ok.wav"), str(tmp_path / "nan.wav"), "--out", str(out),
                 "--errors", str(errors), "--quiet"]) == 1
    rows = out.read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("ok.wav\t") and "nan" not in rows[1].lower()
    assert errors.read_text().startswith("nan.wav\t") and "non-finite" in errors.read_text()
    err = capsys.readouterr().err
    assert "nan.wav" in err and "non-finite" in err


@pytest.mark.parametrize("option,value", [("--window", "0"), ("--window", "-1"), ("--hop", "0"), ("--hop", "nan"),
                                          ("--batch-size", "0"), ("--batch-size", "-2"), ("--threads", "0")])
def test_non_positive_sizes_are_refused_naming_the_option(trained_tau_run, tmp_path, capsys, option, value):
    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(SystemExit) as info:
        main(["predict", ckpt, str(tmp_path / "a.wav"), "--out", str(tmp_path / "p.csv"), option, value])
    assert info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err and "positive" in err and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def test_folder_without_audio_writes_no_csv(trained_tau_run, tmp_path):
    _, ckpt, _ = trained_tau_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    out = tmp_path / "p.csv"
    with pytest.raises(SystemExit, match=r"no audio files .* in folder .*empty"):
        main(["predict", ckpt, str(tmp_path / "empty"), "--out", str(out)])
    assert not out.exists()


def test_onnx_file_that_is_not_a_model_names_the_file(tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00garbage")
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(SystemExit) as info:
        main(["predict", str(bad), str(tmp_path / "a.wav"), "--out", str(tmp_path / "p.csv")])
    message = str(info.value.code)
    assert "broken.onnx is not an ONNX model" in message and "\n" not in message
    assert "ONNXRuntimeError" not in message and not (tmp_path / "p.csv").exists()


def test_stream_with_non_finite_samples_stops_with_an_error(trained_tau_run, monkeypatch, capsys):
    _, ckpt, _ = trained_tau_run
    wave = np.zeros(12000, dtype=np.float32)
    wave[9000] = np.inf
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(wave.astype("<f4").tobytes())))
    with pytest.raises(SystemExit, match=r"standard input, samples 8000-9999: .*non-finite.*stream stopped"):
        main(["predict", ckpt, "--stream", "--window", "0.5", "--hop", "0.125"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [float(line.split("\t")[0]) for line in lines[1:]] == [0.0]  # the window before the bad samples only


def test_missing_output_folder_fails_before_any_work(trained_tau_run, tmp_path, monkeypatch):
    """`predict` and `logits` check where they will write before they classify anything: a long run must not end in
    an error about a temporary file."""
    import lightops.cli.logits as logits_cli
    import lightops.cli.predict as predict_cli
    from lightops.fileio import atomic_path

    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    ran = []
    monkeypatch.setattr(predict_cli, "predict_files", lambda *a, **k: ran.append("predict"))
    monkeypatch.setattr(logits_cli, "compute_teacher_logits", lambda *a, **k: ran.append("logits"))
    for argv in (["predict", ckpt, str(tmp_path / "a.wav"), "--out", str(tmp_path / "no" / "p.csv")],
                 ["predict", ckpt, str(tmp_path / "a.wav"), "--errors", str(tmp_path / "no" / "e.tsv")],
                 ["logits", ckpt, "--out", str(tmp_path / "no" / "l.pt")]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        message = str(info.value.code)
        assert "does not exist" in message and str(tmp_path / "no") in message and ".tmp" not in message
    assert ran == []
    with pytest.raises(FileNotFoundError, match="output folder .* does not exist"):
        with atomic_path(tmp_path / "no" / "x.bin"):
            pass


def test_window_too_short_for_the_model_is_refused_before_any_file(trained_tau_run, tmp_path):
    """A --window the model cannot classify stops with one line naming it, for a checkpoint and for an ONNX file
    (whose graph has no input checks and would return numbers); no CSV is written."""
    pytest.importorskip("onnxruntime")
    from lightops.deploy import StreamingClassifier, export_onnx
    from lightops.deploy.onnx_runtime import ort_session, read_metadata

    _, ckpt, _ = trained_tau_run
    onnx = tmp_path / "m.onnx"
    export_onnx(ckpt, onnx)
    min_frames = read_metadata(ort_session(str(onnx)))["lightops.min_frames"]
    assert isinstance(min_frames, int) and min_frames > 1
    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    for model in (ckpt, str(onnx)):
        out = tmp_path / "p.csv"
        with pytest.raises(SystemExit) as info:
            main(["predict", model, str(tmp_path / "a.wav"), "--out", str(out), "--window", "0.01"])
        message = str(info.value.code)
        assert "cannot classify windows of 0.01 s" in message and "\n" not in message, message
        assert not out.exists()
        with pytest.raises(ValueError, match="cannot classify windows of 0.01 s"):
            StreamingClassifier(model, window=0.01)


def test_outputs_never_replace_inputs(trained_tau_run, tmp_path):
    """--out or --errors naming the checkpoint, an audio file to predict, or each other is refused before any work;
    the file is left as it was."""
    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    audio, model = (tmp_path / "a.wav").read_bytes(), open(ckpt, "rb").read()
    for argv, match in (([str(tmp_path / "a.wav"), "--out", ckpt], "is an input"),
                        ([str(tmp_path / "a.wav"), "--out", str(tmp_path / "a.wav")], "is an input"),
                        ([str(tmp_path), "--out", str(tmp_path / "a.wav")], "is an input"),
                        ([str(tmp_path / "a.wav"), "--out", str(tmp_path / "p.csv"), "--errors",
                          str(tmp_path / "p.csv")], "same file")):
        with pytest.raises(SystemExit, match=match):
            main(["predict", ckpt, *argv])
    assert (tmp_path / "a.wav").read_bytes() == audio and open(ckpt, "rb").read() == model
    assert not (tmp_path / "p.csv").exists()


def test_missing_path_is_refused_before_any_work_and_keeps_the_csv(trained_tau_run, tmp_path):
    _, ckpt, _ = trained_tau_run
    out = tmp_path / "keep.csv"
    out.write_text("earlier results\n")
    with pytest.raises(SystemExit, match=r"not found: .*nope\.wav"):
        main(["predict", ckpt, str(tmp_path / "nope.wav"), "--out", str(out)])
    assert out.read_text() == "earlier results\n"


def test_one_file_twice_is_one_row_and_two_files_of_one_name_are_refused(trained_tau_run, tmp_path):
    _, ckpt, _ = trained_tau_run
    (tmp_path / "x").mkdir()
    for path in (tmp_path / "good.wav", tmp_path / "x" / "good.wav"):
        sf.write(path, np.zeros(8000, dtype=np.float32), 16000)
    out = tmp_path / "p.csv"
    assert main(["predict", ckpt, str(tmp_path / "good.wav"), str(tmp_path / "good.wav"), "--out", str(out),
                 "--quiet"]) == 0
    assert len(out.read_text().splitlines()) == 2
    assert main(["predict", ckpt, str(tmp_path / "x"), str(tmp_path / "x" / "good.wav"), "--out", str(out),
                 "--quiet"]) == 0
    assert [r.split("\t")[0] for r in out.read_text().splitlines()[1:]] == ["x/good.wav"]
    with pytest.raises(SystemExit, match=r"same filename 'good.wav'"):
        main(["predict", ckpt, str(tmp_path / "good.wav"), str(tmp_path / "x" / "good.wav"), "--out", str(out)])
