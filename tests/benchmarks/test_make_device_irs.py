"""``python -m benchmarks.make_device_irs``: a folder of a synthetic family's device responses that ``--dir`` reads."""
import numpy as np
import pytest
import soundfile as sf
import torch

from benchmarks import make_device_irs
from lightops.data import DeviceImpulseResponses


@pytest.mark.parametrize("family", ["tau", "eq"])
def test_responses_follow_the_family_and_load_as_dir(tmp_path, family, capsys):
    assert make_device_irs.main([str(tmp_path), "--family", family, "--count", "3", "--sample-rate", "16000",
                                 "--length", "1023"]) == 0
    assert "3 impulse responses" in capsys.readouterr().out
    for i in (1, 2, 3):
        h, sr = sf.read(tmp_path / f"ir{i}.wav")
        assert sr == 16000 and h.shape == (1023,) and int(np.argmax(np.abs(h))) == 511  # zero phase: peak centred
        freqs = np.fft.rfftfreq(1023, 1 / 16000)
        got = 20 * np.log10(np.abs(np.fft.rfft(h)) + 1e-12)
        want = make_device_irs.response_db(family, f"ir{i}", freqs)
        band = (freqs > 300) & (freqs < 3000)
        diff = (got - want)[band]
        assert np.max(np.abs(diff - np.median(diff))) < 0.5  # the family's shape, up to the level (unit energy)
    # other devices of the family than the scene sets' s1-s6, and each file its own device
    s4 = make_device_irs.response_db(family, "s4", freqs)
    assert not np.allclose(want, s4)
    a, _ = sf.read(tmp_path / "ir1.wav")
    assert not np.allclose(a, h)
    dirs = DeviceImpulseResponses(str(tmp_path), p=1.0, sample_rate=16000)
    x = torch.randn(2, 16000)
    y = dirs(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(x, y)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="count"):
        make_device_irs.write_irs(str(tmp_path), "eq", 0)
    with pytest.raises(ValueError, match="family"):
        make_device_irs.response_db("phone", "ir1", np.array([1000.0]))
    with pytest.raises(ValueError, match="odd length"):
        make_device_irs.impulse_response(np.zeros(513), 1024)
