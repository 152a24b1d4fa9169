"""``read_audio`` refuses NaN and infinite samples with a :class:`~lightops.data.NonFiniteError` naming the file, the
number of such samples and the first; every reader of audio files (impulse responses, adaptation) inherits it."""
import re

import numpy as np
import pytest
import soundfile as sf

import lightops.data
import lightops.deploy
import lightops.deploy.predict
from lightops.audio import FrontEnd
from lightops.data import AudioFileError, DeviceImpulseResponses, NonFiniteError, read_audio
from lightops.deploy.adapt import device_inputs

SR = 16000


def _write(path, x, sr=SR):
    sf.write(path, np.asarray(x, dtype=np.float32), sr, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_named(tmp_path, value):
    x = np.zeros(1000, np.float32)
    x[[5, 700]] = value
    path = _write(tmp_path / "bad.wav", x)
    with pytest.raises(NonFiniteError) as info:
        read_audio(path, SR)
    message = str(info.value)
    assert path in message and "2 non-finite sample(s)" in message and "first at index 5" in message
    assert len(message.splitlines()) == 1


def test_counted_in_the_file_before_mixing_and_resampling(tmp_path):
    """A stereo sample with one bad channel counts once, at its index in the file, even when the file is resampled
    (the filter would smear one NaN over many output samples)."""
    x = np.zeros((800, 2), np.float32)
    x[3, 1] = np.nan
    path = _write(tmp_path / "stereo8k.wav", x, sr=8000)
    with pytest.raises(NonFiniteError, match=r"stereo8k\.wav holds 1 non-finite sample\(s\) .*first at index 3"):
        read_audio(path, SR, resample_audio=True)


def test_overflow_when_mixing_is_named(tmp_path):
    path = _write(tmp_path / "huge.wav", np.full((100, 2), 3e38, np.float32))
    with pytest.raises(NonFiniteError, match=r"huge\.wav holds samples too large to mix"):
        read_audio(path, SR)


def test_finite_audio_is_read_unchanged(tmp_path):
    x = np.linspace(-1.0, 1.0, 1000, dtype=np.float32)
    assert np.array_equal(read_audio(_write(tmp_path / "ok.wav", x), SR), x)


def test_one_error_type_everywhere():
    """The data layer defines it; lightops.deploy and lightops.deploy.predict name the same object. It is an
    AudioFileError (a bad file, as the data sets' callers catch) and a ValueError (as prediction's callers catch)."""
    assert lightops.deploy.NonFiniteError is lightops.data.NonFiniteError is lightops.deploy.predict.NonFiniteError
    assert lightops.deploy.check_finite is lightops.data.check_finite is lightops.deploy.predict.check_finite
    assert issubclass(NonFiniteError, ValueError) and issubclass(NonFiniteError, AudioFileError)
    assert "NonFiniteError" in lightops.data.__all__ and "NonFiniteError" in lightops.deploy.__all__


def test_nan_impulse_response_is_named_non_finite_not_silent(tmp_path):
    ir = np.zeros(100, np.float32)
    ir[0] = 1.0
    _write(tmp_path / "good.wav", ir)
    ir[50] = np.nan
    bad = _write(tmp_path / "bad.wav", ir)
    with pytest.raises(NonFiniteError) as info:
        DeviceImpulseResponses(str(tmp_path), p=1.0, sample_rate=SR)
    message = str(info.value)
    assert message.startswith(f"impulse response {bad}:") and "non-finite" in message and "silent" not in message


def test_adaptation_inputs_name_a_nan_file(tmp_path):
    _write(tmp_path / "ok.wav", np.zeros(SR // 2, np.float32))
    x = np.zeros(SR // 2, np.float32)
    x[10] = np.nan
    bad = _write(tmp_path / "nan.wav", x)
    frontend = FrontEnd(sample_rate=SR, n_fft=512, hop_length=256, n_mels=32)
    with pytest.raises(NonFiniteError, match=re.escape(f"audio file {bad} holds 1 non-finite sample")):
        device_inputs([str(tmp_path)], frontend, SR // 2)
