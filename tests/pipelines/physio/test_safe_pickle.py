"""The data-only unpickler: PPG-DaLiA files load as with ``pickle.load``; a pickle that asks for
``os.system`` (or any other code) is refused before anything runs."""

from __future__ import annotations

import io
import pickle

import numpy as np
import physio_fixtures as fx
import pytest

from crossmodal_ray.pipelines.physio.errors import UnsafePickleError
from crossmodal_ray.pipelines.physio.ppg_dalia_reader import read_ppg_dalia
from crossmodal_ray.pipelines.physio.safe_pickle import is_allowed_global, load_data_pickle


def _roundtrip(value, protocol: int):
    return load_data_pickle(io.BytesIO(pickle.dumps(value, protocol=protocol)))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_and_numpy_load_like_pickle(protocol):
    value = {
        "signal": {"chest": {"ECG": np.arange(12, dtype=np.float64).reshape(-1, 1)}},
        "rpeaks": np.array([3, 7], dtype=np.int64),
        "label": [1.5, 2.5],
        "subject": "S1",
        "questionnaire": {"AGE": np.int64(30), "WEIGHT": np.float64(70.5), "SKIN": 3},
        "flags": (True, None, b"raw", {1, 2}, frozenset({3}), 1 + 2j),
    }
    loaded = _roundtrip(value, protocol)
    assert loaded.keys() == value.keys()
    assert np.array_equal(loaded["signal"]["chest"]["ECG"], value["signal"]["chest"]["ECG"])
    assert loaded["rpeaks"].dtype == np.int64 and loaded["questionnaire"] == value["questionnaire"]
    assert loaded["flags"] == value["flags"]


def test_python2_names_are_allowed():
    # What a Python-2 numpy 1 file names (PPG-DaLiA's pickles): builtins and numpy.core.
    for module, name in [
        ("__builtin__", "set"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    ]:
        assert is_allowed_global(module, name), (module, name)
    for module, name in [
        ("posix", "system"),
        ("os", "system"),
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("__builtin__", "__import__"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
        ("numpy.core.multiarray", "frombuffer"),
        ("copyreg", "_reconstructor"),
    ]:
        assert not is_allowed_global(module, name), (module, name)


def test_os_system_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "S7" / "S7.pkl"
    fx.write_malicious_pickle(path, marker)
    with open(path, "rb") as f, pytest.raises(UnsafePickleError) as raised:
        load_data_pickle(f)
    assert "asks for posix.system" in str(raised.value) or "asks for os.system" in str(raised.value)
    assert "refusing to run code from a data file" in str(raised.value)
    with pytest.raises(UnsafePickleError, match="unsafe pickle S7/S7.pkl"):
        read_ppg_dalia(tmp_path, "S7/S7.pkl")
    assert not marker.exists()


def test_sample_corpus_pickles_still_load(tmp_path):
    fx.make_ppg_dalia_corpus(tmp_path, n_subjects=1, duration_s=30)
    rec = read_ppg_dalia(tmp_path, "S1/S1.pkl")
    with open(tmp_path / "S1" / "S1.pkl", "rb") as f:
        reference = pickle.load(f, encoding="latin1")
    ecg = reference["signal"]["chest"]["ECG"].reshape(-1)
    assert np.array_equal(rec.channels["ecg"][0], ecg)
    assert rec.duration_s == pytest.approx(30, abs=0.05)
