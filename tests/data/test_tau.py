"""TAU Urban Acoustic Scenes 2020 Mobile loader, on a small fake copy of the official layout."""
import os
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lightops.data import (
    TAU_CLASSES,
    AudioFileError,
    Clip,
    TAUUrbanAcousticScenes2020Mobile,
    make_fake_tau,
    parse_device,
    scene_classes,
)
from tests.utils import THREE_CLASS, relabel_scenes

sf = pytest.importorskip("soundfile")

SR = 8000
SECONDS = 0.25
N = int(SR * SECONDS)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tau")
    return make_fake_tau(root, n_per_class=2, devices=("a", "b", "s1"), eval_only_devices=("s4",),
                         clip_seconds=SECONDS, sample_rate=SR)


@pytest.fixture
def root_copy(fake_root, tmp_path):
    """A private copy of the fake set, for tests that damage it."""
    return shutil.copytree(fake_root, tmp_path / "tau")


def tau(root, split="train", **kw):
    kw.setdefault("clip_seconds", SECONDS)
    kw.setdefault("sample_rate", SR)
    return TAUUrbanAcousticScenes2020Mobile(root, split=split, **kw)


def test_splits_sizes_classes_devices(fake_root):
    train, evaluate, test, every = (tau(fake_root, s) for s in ("train", "evaluate", "test", "all"))
    assert (len(train), len(evaluate), len(test), len(every)) == (30, 40, 40, 70)
    assert train.classes == TAU_CLASSES == tuple(sorted(TAU_CLASSES)) and train.num_classes == 10
    assert train.class_to_idx["airport"] == 0 and train.class_to_idx["tram"] == 9
    assert train.devices == ("a", "b", "s1") and evaluate.devices == ("a", "b", "s1", "s4")
    assert sorted(train.targets) == sorted(list(range(10)) * 3)
    assert set(test.targets) == {-1}


def test_item_fields_and_content(fake_root):
    ds = tau(fake_root, "evaluate")
    clip = ds[5]
    assert isinstance(clip, Clip)
    waveform, label, device = clip
    assert waveform.dtype == torch.float32 and waveform.shape == (N,)
    path, expected_label, expected_device = ds.samples[5]
    assert (label, device) == (expected_label, expected_device) == (TAU_CLASSES.index(
        os.path.basename(path).split("-")[0]), parse_device(path))
    data, sr = sf.read(path, dtype="float32")
    assert sr == SR and data.shape == (N,)
    assert torch.equal(waveform, torch.from_numpy(data))
    assert tau(fake_root, "test")[5].label == -1
    assert torch.equal(tau(fake_root, "test")[5].waveform, waveform)


def test_pad_crop_and_transform(fake_root):
    long = tau(fake_root, clip_seconds=2 * SECONDS)[0].waveform
    short = tau(fake_root, clip_seconds=SECONDS / 2)[0].waveform
    full = tau(fake_root)[0].waveform
    assert long.shape == (2 * N,) and torch.equal(long[:N], full) and not long[N:].any()
    assert torch.equal(short, full[: N // 2])
    assert tau(fake_root, transform=lambda w: w * 2)[0].waveform.equal(full * 2)


def test_dataloader_collates(fake_root):
    waveform, label, device = next(iter(DataLoader(tau(fake_root), batch_size=4)))
    assert waveform.shape == (4, N) and label.dtype == torch.int64 and label.shape == (4,)
    assert list(device) == [c.device for c in (tau(fake_root)[i] for i in range(4))]


def test_resample_and_wrong_rate(fake_root):
    with pytest.raises(AudioFileError, match=r"8000 Hz, expected 16000 Hz.*resample=True, or --resample"):
        tau(fake_root, sample_rate=16000)[0]
    pytest.importorskip("scipy")
    up = tau(fake_root, sample_rate=16000, resample=True)[0].waveform
    assert up.shape == (2 * N,) and up.dtype == torch.float32
    down = tau(fake_root, sample_rate=16000, resample=True)  # the 8 kHz content survives 2x up-sampling
    assert torch.allclose(down[0].waveform[::2], tau(fake_root)[0].waveform, atol=0.05)


def test_stereo_is_mixed_to_mono(root_copy):
    ds = tau(root_copy)
    path = ds.samples[0][0]
    left = np.linspace(-0.5, 0.5, N, dtype=np.float32)
    sf.write(path, np.stack([left, np.full(N, 0.25, np.float32)], axis=1), SR, subtype="PCM_24")
    np.testing.assert_allclose(ds[0].waveform.numpy(), (left + 0.25) / 2, atol=1e-6)


def test_missing_paths(tmp_path, root_copy):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        tau(tmp_path / "does-not-exist")
    with pytest.raises(FileNotFoundError, match="fold2_train.csv"):
        tau(root_copy, fold=2)
    os.remove(os.path.join(root_copy, "meta.csv"))
    with pytest.raises(FileNotFoundError, match="meta.csv"):
        tau(root_copy, "all")
    ds = tau(root_copy)
    os.remove(ds.samples[3][0])
    with pytest.raises(FileNotFoundError, match=os.path.basename(ds.samples[3][0])):
        ds[3]
    shutil.rmtree(os.path.join(root_copy, "audio"))
    with pytest.raises(FileNotFoundError, match="audio"):
        tau(root_copy)


def test_bad_lists(root_copy):
    setup = os.path.join(root_copy, "evaluation_setup")
    with open(os.path.join(setup, "fold1_train.csv"), "w") as fh:
        fh.write("filename\tscene_label\n")
    with pytest.raises(ValueError, match="empty.*fold1_train.csv"):
        tau(root_copy)
    with open(os.path.join(setup, "fold1_train.csv"), "w") as fh:
        fh.write("filename\tscene_label\naudio/airport-lyon-0-0-a.wav\tbeach\n")
    with pytest.raises(ValueError, match="'beach'"):
        tau(root_copy)
    with open(os.path.join(setup, "fold1_train.csv"), "w") as fh:
        fh.write("file,label\nx.wav,airport\n")
    with pytest.raises(ValueError, match="'filename' column"):
        tau(root_copy)


def test_another_scene_set_in_the_tau_layout(root_copy):
    """A folder whose labels are not all TAU's scenes has its own sorted classes, the same in every split."""
    assert scene_classes(root_copy) == TAU_CLASSES
    relabel_scenes(root_copy)
    three = ("indoor", "outdoor", "transportation")
    assert scene_classes(root_copy) == three
    train, evaluate = tau(root_copy), tau(root_copy, "evaluate")
    assert train.classes == evaluate.classes == three and train.num_classes == 3
    for path, label, _ in train.samples + evaluate.samples:
        assert three[label] == THREE_CLASS[os.path.basename(path).split("-")[0]]
    assert TAUUrbanAcousticScenes2020Mobile.classes == TAU_CLASSES  # the class attribute is untouched
    os.remove(os.path.join(root_copy, "meta.csv"))  # without meta.csv, the train and evaluate lists
    assert scene_classes(root_copy) == three and tau(root_copy, "evaluate").classes == three
    with pytest.raises(ValueError, match="'indoor', expected one of"):  # a model's classes, given
        tau(root_copy, classes=TAU_CLASSES)
    with pytest.raises(ValueError, match="two or more distinct"):
        tau(root_copy, classes=("indoor", "indoor"))


def test_part_of_tau_keeps_the_ten_classes(root_copy):
    setup = os.path.join(root_copy, "evaluation_setup")
    with open(os.path.join(root_copy, "meta.csv"), "w") as fh:
        fh.write("filename\tscene_label\naudio/airport-lyon-0-0-a.wav\tairport\n")
    with open(os.path.join(setup, "fold1_train.csv"), "w") as fh:
        fh.write("filename\tscene_label\naudio/airport-lyon-0-0-a.wav\tairport\n")
    assert scene_classes(root_copy) == TAU_CLASSES and tau(root_copy).num_classes == 10
    with open(os.path.join(root_copy, "meta.csv"), "w") as fh:
        fh.write("filename\tscene_label\naudio/airport-lyon-0-0-a.wav\tbeach\n")
    with pytest.raises(ValueError, match=r"two or more scene labels.*\['beach'\]"):
        tau(root_copy)


def test_corrupt_and_truncated_files(root_copy):
    ds = tau(root_copy)
    corrupt, truncated = ds.samples[0][0], ds.samples[1][0]
    with open(corrupt, "wb") as fh:
        fh.write(b"not a wav file at all" * 4)
    with pytest.raises(AudioFileError, match=os.path.basename(corrupt)):
        ds[0]
    with open(truncated, "rb") as fh:
        data = fh.read()
    with open(truncated, "wb") as fh:
        fh.write(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match=f"{os.path.basename(truncated)} is truncated"):
        ds[1]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_audio_is_named(root_copy, value):
    """A float WAV holding NaN or inf would make the loss, the weights and every metric NaN: the file is named."""
    ds = tau(root_copy)
    path = ds.samples[2][0]
    x = np.zeros(N, np.float32)
    x[5] = value
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=f"{os.path.basename(path)} holds 1 non-finite sample"):
        ds[2]


@pytest.mark.parametrize("kw,match", [
    ({"split": "validation"}, "split"), ({"fold": 0}, "fold"), ({"clip_seconds": 0}, "clip_seconds"),
    ({"sample_rate": 44100.0}, "sample_rate"),
])
def test_argument_errors(fake_root, kw, match):
    with pytest.raises(ValueError, match=match):
        TAUUrbanAcousticScenes2020Mobile(fake_root, **kw)


def test_parse_device():
    assert parse_device("audio/street_traffic-london-271-8255-s4.wav") == "s4"
    assert parse_device("airport-barcelona-0-0-a.wav") == "a"
    with pytest.raises(ValueError, match="device"):
        parse_device("nodash.wav")
