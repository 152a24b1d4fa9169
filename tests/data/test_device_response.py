"""Device impulse responses (simulated and from a folder), time rolling, training subsets."""
import numpy as np
import pytest
import soundfile as sf
import torch

from lightops.data import (
    TRAIN_FRACTIONS,
    AudioFileError,
    DeviceImpulseResponses,
    SyntheticScenes,
    TimeRoll,
    make_fake_tau,
    stratified_subset,
)
from lightops.data.tau import TAUUrbanAcousticScenes2020Mobile

SR = 16000


def _noise(n=SR, b=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn((n,) if b is None else (b, n), generator=gen)


def test_simulated_keeps_length_and_level_and_differs_per_call():
    dir_ = DeviceImpulseResponses("simulated", p=1.0, sample_rate=SR)
    x = _noise(b=4)
    y = dir_(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.allclose(y[0], x[0]) and not torch.allclose(y[0] / y[0].std(), y[1] / y[1].std() * 1.0001)
    ratio = (y.std(dim=1) / x.std(dim=1)).log10().abs() * 20  # dB
    assert (ratio < 20).all()  # a device changes the level by decibels, not by orders of magnitude
    again = dir_(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, again)  # reproducible with a seeded generator
    assert dir_(x[0]).shape == x[0].shape


def test_identity_at_p0():
    x = _noise(b=3)
    assert torch.equal(DeviceImpulseResponses("simulated", p=0.0, sample_rate=SR)(x), x)


def test_folder_of_irs_any_rate_resampled_aligned(tmp_path):
    ir16 = np.zeros(400, dtype=np.float32)
    ir16[50] = 1.0  # a pure delay of 50 samples: aligned at its peak it is the identity
    sf.write(tmp_path / "delay16k.wav", ir16, SR)
    ir48 = np.zeros(1200, dtype=np.float32)
    ir48[0], ir48[3] = 1.0, 0.5
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "echo48k.wav", ir48, 48000)
    dir_ = DeviceImpulseResponses(tmp_path, p=1.0, sample_rate=SR)
    assert len(dir_.irs) == 2 and all(abs(float(np.sum(ir ** 2)) - 1.0) < 1e-5 for ir in dir_.irs)
    x = _noise()
    outs = [dir_(x, torch.Generator().manual_seed(s)) for s in range(8)]
    assert all(o.shape == x.shape for o in outs)
    assert any(torch.allclose(o, x, atol=1e-5) for o in outs)  # the delay IR, aligned: no delay left


def test_bad_ir_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="impulse-response folder not found"):
        DeviceImpulseResponses(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="holds no audio file"):
        DeviceImpulseResponses(tmp_path)
    (tmp_path / "broken.wav").write_bytes(b"RIFF????WAVEjunk")
    with pytest.raises(AudioFileError, match="broken.wav"):
        DeviceImpulseResponses(tmp_path)
    (tmp_path / "broken.wav").unlink()
    sf.write(tmp_path / "silent.wav", np.zeros(100, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="silent.wav"):
        DeviceImpulseResponses(tmp_path)
    (tmp_path / "silent.wav").unlink()
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioFileError, match="empty.wav"):
        DeviceImpulseResponses(tmp_path)
    with pytest.raises(ValueError, match="p must be in"):
        DeviceImpulseResponses("simulated", p=2)


def test_time_roll():
    x = torch.arange(10.0).repeat(3, 1)
    y = TimeRoll()(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and all(sorted(r.tolist()) == list(range(10)) for r in y)
    assert torch.equal(TimeRoll(p=0.0)(x), x) and torch.equal(TimeRoll(max_shift=0)(x), x)
    assert not torch.equal(y, x)
    with pytest.raises(ValueError, match="max_shift"):
        TimeRoll(max_shift=-1)


def test_stratified_subsets_nested_and_balanced(tmp_path):
    data = SyntheticScenes("train", num_clips=600, clip_seconds=0.1, sample_rate=SR)
    picks = {f: stratified_subset(data, f, seed=1) for f in TRAIN_FRACTIONS}
    assert picks[1.0] == list(range(600))
    for small, large in zip(TRAIN_FRACTIONS, TRAIN_FRACTIONS[1:]):
        assert set(picks[small]) <= set(picks[large])  # nested, as DCASE's split files
    groups = {}
    for i in picks[0.1]:
        groups.setdefault((data.label_of(i), data.device_of(i)), []).append(i)
    assert len(groups) == 60 and {len(v) for v in groups.values()} == {1}  # every class x device, 10 % of 10
    assert stratified_subset(data, 0.25, seed=1) == picks[0.25] and stratified_subset(data, 0.25, seed=2) != picks[0.25]
    with pytest.raises(ValueError, match=r"one of \[0.05, 0.1, 0.25, 0.5, 1.0\]"):
        stratified_subset(data, 0.3)
    root = make_fake_tau(tmp_path / "tau", n_per_class=2, clip_seconds=0.1, sample_rate=SR)
    tau = TAUUrbanAcousticScenes2020Mobile(root, "train", clip_seconds=0.1, sample_rate=SR)
    half = stratified_subset(tau, 0.5)
    assert len(half) == 30 and tau.name_of(0).startswith("audio/")
