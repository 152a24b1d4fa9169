"""Prediction refuses what it cannot classify: non-finite audio, bad window/hop/batch sizes, empty folders, files
that are not ONNX models; each with an error naming the file or argument."""
import numpy as np
import pytest
import soundfile as sf
import torch

from lightops.deploy.predict import NonFiniteError, Predictor, find_audio, predict_files


@pytest.fixture(scope="module")
def predictor(trained_tau_run):
    return Predictor.from_path(trained_tau_run[1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_a_per_file_error(predictor, tmp_path, bad):
    sf.write(tmp_path / "good.wav", np.zeros(8000, dtype=np.float32), 16000)
    wave = np.zeros(8000, dtype=np.float32)
    wave[[7, 4000]] = bad
    sf.write(tmp_path / "bad.wav", wave, 16000, subtype="FLOAT")
    preds, errors = predict_files(predictor, [tmp_path])
    folder = tmp_path.name
    assert [p.filename for p in preds] == [f"{folder}/good.wav"] and np.isfinite(preds[0].probabilities).all()
    assert list(errors) == [f"{folder}/bad.wav"]
    assert "bad.wav" in errors[f"{folder}/bad.wav"] and "2 non-finite sample(s)" in errors[f"{folder}/bad.wav"]


def test_loud_audio_with_non_finite_outputs_is_a_per_file_error(predictor, tmp_path):
    sf.write(tmp_path / "loud.wav", np.full(8000, 1e30, dtype=np.float32), 16000, subtype="FLOAT")
    preds, errors = predict_files(predictor, [tmp_path / "loud.wav"])
    assert preds == [] and "non-finite outputs" in errors["loud.wav"]


def test_predict_waveform_refuses_non_finite_and_bad_shapes(predictor):
    with pytest.raises(NonFiniteError, match="non-finite"):
        predictor.predict_waveform(np.array([0.0, np.nan] * 4000))
    with pytest.raises(ValueError, match="1-D"):
        predictor.predict_waveform(np.zeros((2, 8000)))
    with pytest.raises(ValueError, match="1-D"):
        predictor.predict_waveform(np.zeros(0))
    with pytest.raises(NonFiniteError, match="non-finite outputs"):
        predictor.probabilities(torch.full((1, 8000), float("nan")))


@pytest.mark.parametrize("kwargs,name", [
    ({"window": 0}, "window"), ({"window": -0.5}, "window"), ({"hop": 0}, "hop"), ({"hop": -1.0}, "hop"),
    ({"window": 1e-9}, "window"), ({"batch_size": 0}, "batch_size"), ({"batch_size": -3}, "batch_size"),
    ({"window": float("nan")}, "window"),
])
def test_window_hop_batch_must_be_positive(predictor, tmp_path, kwargs, name):
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match=name):
        predict_files(predictor, [tmp_path / "a.wav"], **kwargs)
    samples = {k: (int(v) if k != "batch_size" else v) for k, v in kwargs.items() if v == v}
    if samples:
        with pytest.raises(ValueError, match=name):
            predictor.predict_waveform(np.zeros(8000, dtype=np.float32), **samples)


def test_folder_without_audio_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(ValueError, match=f"no audio files.*{tmp_path.name}"):
        find_audio([tmp_path])


def test_onnx_file_that_is_not_a_model(tmp_path):
    pytest.importorskip("onnxruntime")
    for content in (b"not a model", b""):
        path = tmp_path / "model.onnx"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="model.onnx is not an ONNX model") as info:
            Predictor.from_path(path)
        assert "\n" not in str(info.value) and "ONNXRuntimeError" not in str(info.value)
