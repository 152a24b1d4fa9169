"""Device-aware prediction: device-id tables in three layouts; files of a device with its own model go through it,
all others through the general model; the CSV's format does not change."""
import csv

import pytest
import torch

from lightops.checkpoint import read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.deploy.device_ids import device_index, device_of, read_device_ids
from lightops.deploy.predict import Predictor, predict_files


def _biased(state, index):
    """A copy of ``state`` whose classifier always picks class ``index``."""
    state = {k: v.clone() for k, v in state.items()}
    bias = next(k for k in state if k.endswith("fc.bias"))
    state[bias][index] += 1000.0
    return state


@pytest.fixture(scope="module")
def device_checkpoint(trained_tau_run, tmp_path_factory):
    """The tiny run with a device model for "a" that always says "tram" (the last class)."""
    _, ckpt_path, _ = trained_tau_run
    ckpt = read_checkpoint(ckpt_path)
    ckpt["device_models"] = {"a": _biased(ckpt["state_dict"], 9)}
    path = tmp_path_factory.mktemp("devices") / "devices.pt"
    save_checkpoint(ckpt, path)
    return str(path)


def _labels(path):
    with open(path, newline="") as fh:
        return {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}


def test_read_device_ids_in_three_layouts(tmp_path, trained_tau_run):
    root = trained_tau_run[0]
    meta = read_device_ids(f"{root}/meta.csv")
    assert meta["audio/airport-barcelona-0-0-a.wav"] == "a" and set(meta.values()) == {"a", "b", "s4"}
    (tmp_path / "test.csv").write_text("filename\tdevice_id\naudio/x-1-2-3-s5.wav\ts5\n")
    assert read_device_ids(tmp_path / "test.csv") == {"audio/x-1-2-3-s5.wav": "s5"}
    (tmp_path / "two.csv").write_text("x.wav,b\ny.wav,c\n")
    assert read_device_ids(tmp_path / "two.csv") == {"x.wav": "b", "y.wav": "c"}
    index = device_index(meta)
    assert device_of("airport-barcelona-0-0-a.wav", index) == "a" and device_of("unknown.wav", index) is None
    (tmp_path / "bad.csv").write_text("filename\tscene_label\nx.wav\tbus\n")
    with pytest.raises(ValueError, match="bad.csv.*device column"):
        read_device_ids(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_device_ids(tmp_path / "missing.csv")
    (tmp_path / "binary.csv").write_bytes(b"\x00\xff\xfe binary")
    with pytest.raises(ValueError, match="binary.csv is not UTF-8 text"):
        read_device_ids(tmp_path / "binary.csv")


def test_device_models_for_known_devices_general_for_others(trained_tau_run, device_checkpoint):
    root, ckpt_path, _ = trained_tau_run
    predictor = Predictor.from_path(device_checkpoint)
    assert predictor.devices == ["a"]
    general, _ = predict_files(Predictor.from_path(ckpt_path), [f"{root}/audio"])
    ids = read_device_ids(f"{root}/meta.csv")
    preds, errors = predict_files(predictor, [f"{root}/audio"], device_ids=ids)
    assert not errors and [p.filename for p in preds] == [p.filename for p in general]
    for p, g in zip(preds, general):
        if p.filename.endswith("-a.wav"):
            assert p.model == "a" and p.probabilities.argmax() == 9
        else:  # b is seen but has no device model; s4 is unseen: both take the general model
            assert p.model == "general" and torch.allclose(torch.tensor(p.probabilities), torch.tensor(g.probabilities))
    without, _ = predict_files(predictor, [f"{root}/audio"])  # no ids: the general model for every file
    assert all(p.model == "general" for p in without)


def test_cli_device_ids(trained_tau_run, device_checkpoint, tmp_path):
    root, ckpt_path, _ = trained_tau_run
    plain, aware = tmp_path / "plain.csv", tmp_path / "aware.csv"
    assert main(["predict", device_checkpoint, f"{root}/audio", "--out", str(plain), "--quiet"]) == 0
    assert main(["predict", device_checkpoint, f"{root}/audio", "--out", str(aware), "--quiet",
                 "--device-ids", f"{root}/meta.csv"]) == 0
    assert plain.read_text().splitlines()[0] == aware.read_text().splitlines()[0]  # the format is unchanged
    a, b = _labels(plain), _labels(aware)
    assert set(a) == set(b)
    assert all(b[f] == "tram" for f in b if f.endswith("-a.wav"))
    assert all(a[f] == b[f] for f in b if not f.endswith("-a.wav"))
    with pytest.raises(SystemExit, match="device-id file not found"):
        main(["predict", device_checkpoint, f"{root}/audio", "--device-ids", str(tmp_path / "nope.csv")])
