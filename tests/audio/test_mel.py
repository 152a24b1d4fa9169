"""LogMel: shapes, errors, and parity with librosa on synthetic signals and real speech recordings."""
import glob
import importlib.util
import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lightops.audio import LogMel, mel_filterbank
from tests import _signals as audio_parity

librosa = pytest.importorskip("librosa")
sf = pytest.importorskip("soundfile")

RTOL = 1e-4
ATOL_REL = 1e-6  # atol = ATOL_REL * max of the reference spectrogram


def _speech_files():
    """The WAV recordings shipped inside the pytest-audioeval package (empty when it is not installed)."""
    spec = importlib.util.find_spec("pytest_audioeval")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    return sorted(glob.glob(os.path.join(root, "samples", "audio", "*", "*.wav")))


SPEECH = _speech_files()
SPEECH_SUBSET = SPEECH[:: max(len(SPEECH) // 6, 1)][:6]


def _assert_parity(y: np.ndarray, sr: int, **kw) -> None:
    mel = LogMel(sample_rate=sr, **kw)
    ours = mel.mel_power(torch.from_numpy(y)[None])[0, 0].numpy()  # (n_mels, T)
    ref = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=mel.n_fft, hop_length=mel.hop_length,
                                         n_mels=mel.n_mels, fmin=mel.f_min, fmax=mel.f_max, power=2.0,
                                         center=mel.center, pad_mode=mel.pad_mode)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL_REL * ref.max())


def _signals(sr: int, seconds: float = 2.0):
    """The documented parity signals (benchmarks/audio_parity.py: sweep, noise, clicks) plus pink noise and a
    sweep with noise."""
    sig = audio_parity.signals(sr, seconds)
    rng = np.random.default_rng(1)
    n = sig["sweep"].size
    sig["pink"] = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.arange(n // 2 + 1) + 1.0), n)
    sig["sweep+noise"] = sig["sweep"] + 0.01 * rng.standard_normal(n)
    return sig


def test_default_shapes():
    mel = LogMel()
    assert mel(torch.zeros(2, 441000)).shape == (2, 1, 256, 431)
    assert mel(torch.zeros(3, 1, 44100)).shape == (3, 1, 256, 44)
    assert mel.output_frames(441000) == 431 and mel.output_frames(44100) == 44


@given(n=st.integers(1, 3000), hop=st.integers(1, 300), center=st.booleans(), reflect=st.booleans())
def test_output_frames(n, hop, center, reflect):
    mel = LogMel(sample_rate=8000, n_fft=256, hop_length=hop, n_mels=16, center=center,
                 pad_mode="reflect" if reflect else "constant")
    x = torch.randn(1, n)
    if n < mel.min_samples:
        with pytest.raises(ValueError, match="at least"):
            mel(x)
        return
    assert mel(x).shape == (1, 1, 16, mel.output_frames(n))


@pytest.mark.parametrize("sr,n_fft,n_mels,f_min,f_max", [
    (44100, 4096, 256, 0.0, None), (16000, 1024, 64, 50.0, 7000.0), (22050, 2048, 128, 0.0, 8000.0),
    (8000, 512, 40, 300.0, None),
])
def test_filterbank_matches_librosa(sr, n_fft, n_mels, f_min, f_max):
    ours = mel_filterbank(sr, n_fft, n_mels, f_min, f_max)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(_signals(44100)))
def test_parity_synthetic_default_settings(name):
    _assert_parity(_signals(44100)[name].astype(np.float32), 44100)


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_parity_other_settings(pad_mode):
    y = _signals(22050)["sweep+noise"].astype(np.float32)
    _assert_parity(y, 22050, n_fft=1024, hop_length=256, n_mels=80, f_min=40.0, f_max=9000.0, pad_mode=pad_mode)
    _assert_parity(y, 22050, n_fft=1024, hop_length=256, n_mels=80, center=False)


def test_parity_win_length():
    y = _signals(16000)["sweep+noise"].astype(np.float32)
    mel = LogMel(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=64, win_length=800)
    ours = mel.mel_power(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, win_length=800, n_mels=64)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL_REL * ref.max())


@pytest.mark.skipif(not SPEECH, reason="pytest-audioeval (its WAV recordings) is not installed")
@pytest.mark.parametrize("path", SPEECH_SUBSET, ids=[os.path.basename(p) for p in SPEECH_SUBSET])
def test_parity_real_speech(path):
    y, sr = sf.read(path, dtype="float32")
    if y.ndim == 2:
        y = y.mean(axis=1)
    _assert_parity(y, sr)  # the default n_fft 4096 / hop 1024 / 256 mels at the file's own rate
    _assert_parity(y, sr, n_fft=512, hop_length=160, n_mels=64)


def test_log_matches_power_to_db():
    y = _signals(16000, 1.0)["sweep+noise"].astype(np.float32)
    mel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64)
    power = mel.mel_power(torch.from_numpy(y)[None])[0, 0].numpy()
    ours = mel(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)
    assert torch.equal(LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, log=False)(
        torch.from_numpy(y)[None])[0, 0], torch.from_numpy(power))


def test_top_db_is_per_clip():
    mel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32, top_db=30.0)
    x = torch.randn(2, 4000)
    x[1] *= 1e-3  # 60 dB quieter: its floor must follow its own peak, not the batch's
    out = mel(x)
    for b in range(2):
        assert out[b].max() - out[b].min() <= 30.0 + 1e-4
    assert out[1].max() < out[0].max() - 50


def test_float64_and_autocast():
    mel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
    x = torch.randn(2, 8000)
    ref = mel(x)
    assert mel(x.double()).dtype == torch.float64
    torch.testing.assert_close(mel(x.double()).float(), ref, rtol=1e-4, atol=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mel(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    assert mel(x.bfloat16()).dtype == torch.float32


def test_buffers_not_in_state_dict():
    mel = LogMel()
    assert mel.state_dict() == {}
    assert {n for n, _ in mel.named_buffers()} == {"window", "mel_fb"}
    assert mel.mel_fb.shape == (256, 2049) and mel.window.shape == (4096,)


@pytest.mark.parametrize("x,match", [
    (torch.zeros(100), "add a batch dimension"),
    (torch.zeros(2, 2, 100), "mono"),
    (torch.zeros(1, 1, 1, 100), r"\(B, samples\)"),
    (torch.zeros(2, 100, dtype=torch.int16), "floating-point"),
    (torch.zeros(2, 0), "non-empty"),
    (torch.zeros(0, 100), "non-empty"),
])
def test_input_errors(x, match):
    with pytest.raises(ValueError, match=match):
        LogMel(sample_rate=8000, n_fft=64, hop_length=16, n_mels=8)(x)


def test_too_short_errors():
    with pytest.raises(ValueError, match="at least 64 samples"):
        LogMel(sample_rate=8000, n_fft=64, hop_length=16, n_mels=8, center=False)(torch.zeros(1, 63))
    with pytest.raises(ValueError, match="at least 33 samples"):
        LogMel(sample_rate=8000, n_fft=64, hop_length=16, n_mels=8, pad_mode="reflect")(torch.zeros(1, 32))


@pytest.mark.parametrize("kw,match", [
    ({"n_fft": 0}, "n_fft"), ({"hop_length": 1.5}, "hop_length must be an int"), ({"n_mels": True}, "n_mels"),
    ({"f_max": 30000.0}, "f_max"), ({"f_min": 5000.0, "f_max": 4000.0}, "f_min"), ({"pad_mode": "edge"}, "pad_mode"),
    ({"power": 0.0}, "power"), ({"win_length": 8192}, "win_length"), ({"top_db": -1.0}, "top_db"),
])
def test_constructor_errors(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):  # TypeError: not an int (hop_length 1.5, n_mels True)
        LogMel(**kw)


def test_empty_mel_bands_are_named():
    """A filterbank too fine for its FFT leaves bands with no bin (constant in every frame): named, as librosa
    does; the default front end and the DCASE 2025 baseline's have none."""
    import warnings

    with pytest.warns(UserWarning, match=r"LogMel: 6 of 256 mel bands hold no FFT bin \(n_fft=1024 at 32000 Hz"):
        LogMel(sample_rate=32000, n_fft=1024, n_mels=256)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogMel()
        LogMel(sample_rate=32000, n_fft=4096, win_length=3072, hop_length=500, n_mels=256)
