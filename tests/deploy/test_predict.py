"""Prediction over recordings and streaming: windows, DCASE's CSV, the ONNX path, bad files."""
import numpy as np
import pytest
import soundfile as sf
import torch

from lightops.deploy.predict import Predictor, find_audio, predict_files, window_starts, write_predictions
from lightops.deploy.streaming import StreamingClassifier


@pytest.mark.parametrize("n,window,hop,expected", [
    (100, 100, 50, [0]), (40, 100, 50, [0]), (250, 100, 50, [0, 50, 100, 150]),
    (260, 100, 50, [0, 50, 100, 150, 160]), (260, 100, 100, [0, 100, 160]),
])
def test_window_starts_cover_every_sample(n, window, hop, expected):
    starts = window_starts(n, window, hop)
    assert starts == expected
    assert starts[0] == 0 and (n <= window or starts[-1] + window == n)


@pytest.fixture(scope="module")
def predictor(trained_tau_run):
    return Predictor.from_path(trained_tau_run[1])


def test_predictor_from_checkpoint(predictor, trained_tau_run):
    from lightops.data import TAU_CLASSES

    assert predictor.classes == list(TAU_CLASSES) and predictor.sample_rate == 16000
    assert predictor.clip_samples == 8000  # the training clip: 0.5 s at 16 kHz
    probs = predictor.probabilities(torch.randn(3, 8000) * 0.05)
    assert probs.shape == (3, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_long_recording_mean_of_windows(predictor, tmp_path):
    wave = (0.05 * np.random.default_rng(0).standard_normal(21000)).astype(np.float32)
    starts, probs = predictor.predict_waveform(wave, hop=4000)
    assert starts == [0, 4000, 8000, 12000, 13000]
    sf.write(tmp_path / "long.wav", wave, 16000, subtype="FLOAT")
    preds, errors = predict_files(predictor, [tmp_path / "long.wav"], hop=0.25)
    assert not errors and len(preds) == 1 and preds[0].filename == "long.wav"
    assert np.allclose(preds[0].probabilities, probs.mean(axis=0), atol=1e-6)
    rows, _ = predict_files(predictor, [tmp_path], hop=0.25, per_window=True)
    assert [r.onset for r in rows] == [0.0, 0.25, 0.5, 0.75, 0.8125]
    assert rows[0].filename == f"{tmp_path.name}/long.wav"  # relative to the parent of the folder given


@pytest.mark.parametrize("chunks", ["random", "one", "tiny"])
def test_streaming_equals_per_window(predictor, chunks):
    rng = np.random.default_rng(1)
    wave = (0.05 * rng.standard_normal(29_500)).astype(np.float32)
    starts, expected = predictor.predict_waveform(wave, window=8000, hop=4000)
    stream = StreamingClassifier(predictor, window=0.5, hop=0.25)
    sizes = {"random": lambda: int(rng.integers(1, 9000)), "one": lambda: len(wave), "tiny": lambda: 777}[chunks]
    got, pos = [], 0
    while pos < len(wave):
        n = sizes()
        got += stream.push(wave[pos:pos + n])
        pos += n
        assert stream.buffered <= stream.window  # memory bounded by one window
    got += stream.flush()
    assert [round(o * 16000) for o, _ in got] == starts
    assert np.abs(np.stack([p for _, p in got]) - expected).max() <= 1e-5


def test_streaming_short_stream_is_padded(predictor):
    wave = (0.05 * np.random.default_rng(2).standard_normal(3000)).astype(np.float32)
    _, expected = predictor.predict_waveform(wave)
    stream = StreamingClassifier(predictor, window=None, hop=None)
    assert stream.push(wave) == []
    (onset, probs), = stream.flush()
    assert onset == 0.0 and np.abs(probs - expected[0]).max() <= 1e-5


def test_bad_files_are_listed_and_others_predicted(predictor, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(8000, dtype=np.float32), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not audio")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    sf.write(tmp_path / "rate.wav", np.zeros(4000, dtype=np.float32), 8000)
    preds, errors = predict_files(predictor, [tmp_path])
    folder = tmp_path.name
    assert [p.filename for p in preds] == [f"{folder}/good.wav"]
    assert set(errors) == {f"{folder}/broken.wav", f"{folder}/empty.wav", f"{folder}/rate.wav"}
    assert "8000 Hz" in errors[f"{folder}/rate.wav"] and "no samples" in errors[f"{folder}/empty.wav"]
    preds, errors = predict_files(predictor, [tmp_path / "rate.wav"], resample=True)
    assert len(preds) == 1 and not errors


def test_csv_format(predictor, tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    preds, _ = predict_files(predictor, [tmp_path / "a.wav"])
    out = tmp_path / "p.csv"
    write_predictions(preds, predictor.classes, out)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["filename", "scene_label"] + predictor.classes
    row = lines[1].split("\t")
    probs = np.array([float(v) for v in row[2:]])
    assert row[0] == "a.wav" and row[1] == predictor.classes[int(probs.argmax())]
    assert abs(probs.sum() - 1.0) < 1e-4 and len(probs) == 10
    assert [a for a, _ in find_audio([tmp_path])] == [str(tmp_path / "a.wav")]  # the CSV is not audio
