"""``python -m benchmarks.make_scene_set``: a TAU-layout folder whose scenes follow the SyntheticScenes options."""
import numpy as np
import soundfile as sf

from benchmarks import make_scene_set
from lightops.data import TAUUrbanAcousticScenes2020Mobile


def test_folder_has_the_layout_devices_and_options(tmp_path, capsys):
    args = ["--segments", "2", "--devices", "a", "s1", "--unseen-devices", "s4", "--clip-seconds", "0.1",
            "--sample-rate", "8000"]
    assert make_scene_set.main([str(tmp_path / "plain"), *args]) == 0
    assert "20 training and 30 evaluation clips" in capsys.readouterr().out
    train = TAUUrbanAcousticScenes2020Mobile(tmp_path / "plain", split="train", sample_rate=8000, clip_seconds=0.1)
    evaluate = TAUUrbanAcousticScenes2020Mobile(tmp_path / "plain", split="evaluate", sample_rate=8000,
                                                clip_seconds=0.1)
    assert len(train) == 20 and len(evaluate) == 30
    assert {c.device for c in train} == {"a", "s1"} and {c.device for c in evaluate} == {"a", "s1", "s4"}
    # the scene options reach the audio: another device family renders other waveforms
    make_scene_set.main([str(tmp_path / "eq"), *args, "--device-family", "eq"])
    name = "audio/airport-barcelona-0-0-s1.wav"
    plain, _ = sf.read(tmp_path / "plain" / name)
    eq, _ = sf.read(tmp_path / "eq" / name)
    assert plain.shape == eq.shape and not np.allclose(plain, eq)
    same, _ = sf.read(tmp_path / "eq" / "audio/airport-barcelona-0-0-a.wav")  # the flat reference is shared
    ref, _ = sf.read(tmp_path / "plain" / "audio/airport-barcelona-0-0-a.wav")
    np.testing.assert_allclose(same, ref, atol=1e-6)


def test_parallel_flag_records_each_segment_once_on_every_device(tmp_path):
    args = ["--segments", "2", "--devices", "a", "b", "--unseen-devices", "s4", "--clip-seconds", "0.25",
            "--sample-rate", "16000"]
    for name, extra in (("own", []), ("par", ["--parallel"])):
        assert make_scene_set.main([str(tmp_path / name), *args, *extra]) == 0
    corr = {}
    for name in ("own", "par"):
        a, _ = sf.read(tmp_path / name / "audio/airport-barcelona-0-0-a.wav")
        b, _ = sf.read(tmp_path / name / "audio/airport-barcelona-0-0-b.wav")
        corr[name] = float(np.corrcoef(a, b)[0, 1])
    assert corr["par"] > 0.5 and abs(corr["own"]) < 0.2
