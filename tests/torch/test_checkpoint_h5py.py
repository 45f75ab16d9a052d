#!/usr/bin/python3
"""bienc checkpoints are ordinary HDF5: h5py (Debian python3-h5py) reads what bienc writes,
bit for bit, and bienc reads what h5py writes in the documented layout; foreign and truncated
files written by h5py get bienc's clear errors. Driver: tests/torch/checkpoint_driver.c."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_io import driver_path  # noqa: E402

DRIVER = driver_path("checkpoint_driver")


def pattern(idx):
    # Same as the driver's pattern(): small multiples of 1/8, exact in float32.
    return ((np.asarray(idx, dtype=np.int64) * 37) % 101).astype(np.float32) * np.float32(0.125) - np.float32(3.0)


def run(*args):
    return subprocess.run([DRIVER, *args], capture_output=True, text=True)


def check_h5py_reads_bienc(tmp):
    path = os.path.join(tmp, "bienc.h5")
    r = run("write", path)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(path + ".tmp")
    with h5py.File(path, "r") as f:
        # bienc writes fixed-length UTF-8 strings (checksummed, unlike HDF5's variable-length
        # heap): h5py returns them as bytes.
        assert f.attrs["format"].decode() == "bienc-checkpoint", f.attrs["format"]
        assert int(f.attrs["version"]) == 1
        w = f["params/encoder.layer.0.intermediate.dense.weight"]
        assert w.dtype == np.float32 and w.shape == (3, 4, 5), (w.dtype, w.shape)
        want = pattern(np.arange(60)).reshape(3, 4, 5)
        assert np.array_equal(w[...].view(np.uint32), want.view(np.uint32)), "tensor differs"
        b = f["optim/m/embeddings.LayerNorm.bias"][...]
        assert np.array_equal(b, pattern(np.arange(1000, 1007)))
        assert int(f.attrs["step"]) == 77
        assert float(f["train"].attrs["lr"]) == 2e-5
        assert f["model"].attrs["pooling"].decode() == "mean"
        rng = f["rng"].attrs["state"]
        assert rng.dtype == np.uint64 and list(rng) == [0xFEDCBA9876543210, 3], rng
        vocab = [s for s in f["vocab"].asstr()[...]]
        assert vocab == ["[PAD]", "[UNK]", "hello", "##ing", "naïve", ""], vocab
    print("h5py reads a bienc checkpoint: tensors bit-exact, attributes and vocab equal")


def write_h5py(path, marker=True, version=1):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    with h5py.File(path, "w") as f:
        if marker:
            f.attrs["format"] = "bienc-checkpoint"
            f.attrs["version"] = np.int64(version)
        f.create_dataset("params/w", data=w)
        f.attrs["step"] = np.int64(12)
        f.create_group("model").attrs["pooling"] = "cls"
        f.create_group("rng").attrs["state"] = np.array([2**64 - 1, 5], dtype=np.uint64)
        f.create_dataset("vocab", data=["[CLS]", "über", "x"], dtype=h5py.string_dtype())
    return w


def check_bienc_reads_h5py(tmp):
    path = os.path.join(tmp, "h5py.h5")
    w = write_h5py(path)
    r = run("read", path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "shape 2 3", lines[0]
    got = np.array([float.fromhex(x) for x in lines[1].split()[1:]], dtype=np.float32)
    assert np.array_equal(got.view(np.uint32), w.reshape(-1).view(np.uint32)), (got, w)
    assert lines[2] == "step 12" and lines[3] == "pooling cls", lines[2:4]
    assert lines[4] == "rng %d 5" % (2**64 - 1), lines[4]
    assert lines[5:] == ["vocab [CLS]", "vocab über", "vocab x"], lines[5:]
    print("bienc reads an h5py-written checkpoint: tensor bit-exact, attributes and vocab equal")


def check_errors(tmp):
    foreign = os.path.join(tmp, "foreign.h5")
    write_h5py(foreign, marker=False)
    r = run("read", foreign)
    assert r.returncode == 1 and "not a bienc checkpoint" in r.stderr and "foreign.h5" in r.stderr, r.stderr
    assert "HDF5-DIAG" not in r.stderr, r.stderr
    future = os.path.join(tmp, "future.h5")
    write_h5py(future, version=9)
    r = run("read", future)
    assert r.returncode == 1 and "version 9" in r.stderr, r.stderr
    good = os.path.join(tmp, "h5py.h5")
    data = open(good, "rb").read()
    trunc = os.path.join(tmp, "trunc.h5")
    for n in (10, len(data) // 2, len(data) - 1):
        with open(trunc, "wb") as f:
            f.write(data[:n])
        r = run("read", trunc)
        assert r.returncode == 1 and "trunc.h5" in r.stderr, (n, r.returncode, r.stderr)
        assert "HDF5-DIAG" not in r.stderr, r.stderr
    print("foreign, future-version and truncated files: clean errors naming the file, no HDF5 noise")


def main():
    if not os.path.exists(DRIVER):
        print("FAIL: driver %s not built" % DRIVER)
        sys.exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        check_h5py_reads_bienc(tmp)
        check_bienc_reads_h5py(tmp)
        check_errors(tmp)
    print("test_checkpoint_h5py: all checks passed")


if __name__ == "__main__":
    main()
