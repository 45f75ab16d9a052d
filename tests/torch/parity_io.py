"""Tensor files shared by the PyTorch parity scripts and their C drivers.

Format (little-endian): b"BPIO", u32 version (1), u32 count, then per entry:
u32 name length, name bytes (UTF-8), u32 dtype (0 float32, 1 int32, 2 int64, 3 uint8),
u32 ndim, int64 shape[ndim], raw data in C order.
"""
import os
import struct
import subprocess

import numpy as np

MAGIC = b"BPIO"
DTYPES = {0: np.float32, 1: np.int32, 2: np.int64, 3: np.uint8}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


def write(path, tensors):
    """Writes a dict name -> numpy array (float32/int32/int64/uint8)."""
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", 1, len(tensors)))
        for name, a in tensors.items():
            a = np.ascontiguousarray(a)
            if a.dtype not in CODES:
                raise TypeError(f"{name}: unsupported dtype {a.dtype}")
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", CODES[a.dtype], a.ndim))
            f.write(struct.pack(f"<{a.ndim}q", *a.shape))
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


def read(path):
    """Reads a file written by write() or by the C side: dict name -> numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a parity tensor file")
    _version, count = struct.unpack_from("<II", data, 4)
    pos, out = 12, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4 : pos + 4 + n].decode()
        pos += 4 + n
        code, ndim = struct.unpack_from("<II", data, pos)
        pos += 8
        shape = struct.unpack_from(f"<{ndim}q", data, pos)
        pos += 8 * ndim
        dt = np.dtype(DTYPES[code])
        size = int(np.prod(shape)) if ndim else 1
        out[name] = np.frombuffer(data, dtype=dt.newbyteorder("<"), count=size, offset=pos).reshape(shape).astype(dt)
        pos += size * dt.itemsize
    return out


def kernel_env(var, path):
    """The environment with kernel-choice variable var (BIENC_BF16_PATH, BIENC_I8_PATH) set to
    path, or unset for "auto" (the CPU's own choice)."""
    env = dict(os.environ)
    env.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    if path == "auto":
        env.pop(var, None)
    else:
        env[var] = path
    return env


def run_driver(exe, inputs, workdir, tag="case", env=None):
    """Writes inputs, runs `exe in out` (in env, default this process's), returns the
    driver's outputs (raises on failure)."""
    src = os.path.join(workdir, f"{tag}.in")
    dst = os.path.join(workdir, f"{tag}.out")
    write(src, inputs)
    env = dict(os.environ if env is None else env)
    env.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    r = subprocess.run([exe, src, dst], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(exe)} failed on {tag} ({r.returncode}): {r.stderr.strip()}")
    return read(dst)


def rel_err(a, b):
    """max |a - b| / max(max |b|, 1e-30): the error relative to the reference tensor's scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def driver_path(name):
    """Path of tests/torch/<name>.c's executable in $BIENC_BUILD_DIR."""
    build = os.environ.get("BIENC_BUILD_DIR", "build")
    return os.path.join(build, "tests", f"torch_{name}")
