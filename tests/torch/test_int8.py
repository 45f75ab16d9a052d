"""int8 inference parity (issue 12): bienc's int8 linear layers against PyTorch's model of
the same quantisation, and the int8 encoder against fp64 and bienc fp32, on both int8 paths
(the one this CPU runs, and the portable fallback forced with BIENC_I8_PATH=fallback).

What int8 means in bienc (src/ops/gemm_i8.h): a linear layer's input is quantised per row
(token) to u8 with a zero point, its weight per output row to s8 (symmetric, +-127), the
products are summed exactly in int32 and scaled back in fp32; attention runs in bf16.

The oracle: torch.fake_quantize_per_channel_affine, given the scales and zero points of the
spec (computed here in float32 from the header's formulas), rounds and clamps exactly as
the spec says (nearest even of x * (1/scale), plus the zero point); the product of the
dequantised tensors in float64 is then the exact int8 result up to the float32 rounding of
each dequantised value (2^-24 relative per factor) and of bienc's final scaling. So
  |bienc - oracle| <= 4 * 2^-24 * sum_k |xq_k wq_k| + 2^-23 |b|,
element by element: a wrong zero point, scale, rounding or packing is off by whole
quantisation steps, far outside it. The int8 encoder is checked against fp64 and bienc
fp32 with cosine >= 0.995 on the hidden states and pooled embeddings: each product's
inputs move by up to half a quantisation step (about 1% relative RMS for a row spanning
+-3 standard deviations in 255 steps), so a product's normwise error is about 1-1.5% and
cosine 1 - err^2/2 >= 0.9998; across the ~25 products of the encoders here, errors adding
in quadrature, 0.995 leaves a margin of ten. Both paths must give the same bits.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import parity_io  # noqa: E402

torch.set_num_threads(1)
PATHS = ["auto", "fallback"]
COS_MIN = 0.995


def env_for(path):
    return parity_io.kernel_env("BIENC_I8_PATH", path)


def run_ops_driver(inputs, tmp, tag, path):
    return parity_io.run_driver(parity_io.driver_path("ops_driver"), inputs, tmp, tag, env=env_for(path))


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))


def quant_params_x(x):
    """Per row: scale, zero point (the spec's float32 arithmetic)."""
    f = np.float32
    lo = np.minimum(x.min(axis=1), f(0)).astype(f)
    hi = np.maximum(x.max(axis=1), f(0)).astype(f)
    s = ((hi - lo) / f(255)).astype(f)
    zero = s < np.finfo(f).tiny
    s_safe = np.where(zero, f(1), s).astype(f)
    inv = (f(1) / s_safe).astype(f)
    z = np.clip(np.rint((-lo * inv).astype(f)), 0, 255).astype(np.int32)
    return np.where(zero, f(1), s).astype(f), np.where(zero, 0, z), zero


def quant_params_w(w):
    f = np.float32
    s = (np.abs(w).max(axis=1) / f(127)).astype(f)
    zero = s < np.finfo(f).tiny
    return np.where(zero, f(1), s).astype(f), zero


def oracle_linear(x, W, b):
    sx, zx, x_zero = quant_params_x(x)
    sw, w_zero = quant_params_w(W)
    xq = torch.fake_quantize_per_channel_affine(torch.from_numpy(x), torch.from_numpy(sx), torch.from_numpy(zx),
                                                0, 0, 255).double().numpy()
    wq = torch.fake_quantize_per_channel_affine(torch.from_numpy(W), torch.from_numpy(sw),
                                                torch.zeros(len(sw), dtype=torch.int32), 0, -127, 127).double().numpy()
    xq[x_zero] = 0.0
    wq[w_zero] = 0.0
    return xq @ wq.T + b, np.abs(xq) @ np.abs(wq).T


def linear_case(failed, tmp, path, R, Cin, Cout, kind):
    label = f"linear {R}x{Cin}->{Cout} {kind} [{path}]"
    rng = np.random.default_rng(R * Cin + Cout)  # the same inputs on both paths
    if kind == "gelu-like":  # post-GELU rows: mostly positive, all 8 bits used by the zero point
        x = np.maximum(rng.standard_normal((R, Cin)), -0.17).astype(np.float32)
    else:
        x = rng.standard_normal((R, Cin)).astype(np.float32)
    x[R // 2] = 0.0  # an all-zero row
    W = (rng.standard_normal((Cout, Cin)) * Cin ** -0.5).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    G = np.zeros((R, Cout), np.float32)
    got = run_ops_driver({"op": np.frombuffer(b"linear", np.uint8).copy(), "x": x, "W": W, "b": b, "G": G,
                          "precision": np.array([2], np.int32)}, tmp, f"lin{R}_{Cin}_{Cout}", path)["out"]
    ref, mag = oracle_linear(x, W, b)
    bound = 4 * 2.0 ** -24 * mag + 2.0 ** -23 * np.abs(b) + 1e-30
    err = np.abs(got.astype(np.float64) - ref)
    worst = float((err / bound).max())
    exact = x.astype(np.float64) @ W.astype(np.float64).T + b
    rel = float(np.abs(got - exact).max() / np.abs(exact).max())
    ok = worst <= 1.0
    print(f"  {label:50s} vs torch fake-quant oracle: max err / bound {worst:.3f}; vs fp64 unquantised: "
          f"cos {cosine(got, exact):.6f}, max rel {rel:.2e}{'' if ok else '  FAIL'}")
    if not ok:
        failed.append(label)
    return got


def run_encoder(args, path, tmp, tag):
    out = os.path.join(tmp, tag + ".bin")
    subprocess.run([parity_io.driver_path("encoder_driver"), out] + args, check=True, env=env_for(path))
    return bert_ref.read_records(out)


def torch_fp64(rec):
    V, C, L, H, I, P, Y, eps, act, pool_id, normalize = rec["config"].tolist()
    cfg = bert_ref.Cfg(vocab_size=int(V), hidden_size=int(C), num_layers=int(L), num_heads=int(H),
                       intermediate_size=int(I), max_position_embeddings=int(P), type_vocab_size=int(Y),
                       layer_norm_eps=float(eps), activation="gelu_new" if int(act) == 1 else "gelu")
    model = bert_ref.Bert(cfg).double()
    params = {k[len("param/"):]: v for k, v in rec.items() if k.startswith("param/")}
    model.load_state_dict({k: torch.from_numpy(v).double() for k, v in params.items()}, strict=True)
    offs = rec["offsets"].astype(np.int64)
    lens = offs[1:] - offs[:-1]
    n, Lmax = len(lens), int(lens.max())
    ids, types, mask = (torch.zeros(n, Lmax, dtype=torch.long) for _ in range(3))
    for s in range(n):
        ids[s, :lens[s]] = torch.from_numpy(rec["ids"][offs[s]:offs[s + 1]].astype(np.int64))
        types[s, :lens[s]] = torch.from_numpy(rec["type_ids"][offs[s]:offs[s + 1]].astype(np.int64))
        mask[s, :lens[s]] = 1
    with torch.no_grad():
        hidden = model(ids, types, mask)
        emb = bert_ref.pool(hidden, mask, ["mean", "cls", "max"][int(pool_id)])
        if normalize:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
    return {"hidden": torch.cat([hidden[s, :lens[s]] for s in range(n)]).numpy(), "pooled": emb.numpy()}


def encoder_case(failed, tmp, args, path):
    label = f"encoder {' '.join(args)} [{path}]"
    q = run_encoder(args + ["--precision", "int8"], path, tmp, "i8")
    fp = run_encoder(args, path, tmp, "fp")
    refs = {"torch fp64": torch_fp64(q), "bienc fp32": fp}
    line = []
    for ref_name, ref in refs.items():
        for name in ("hidden", "pooled"):
            c = cosine(q[name], ref[name])
            line.append(f"{name} vs {ref_name} {c:.6f}")
            if c < COS_MIN:
                failed.append(f"{label}: {name} vs {ref_name} cos {c:.6f}")
    print(f"  {label:50s} cos: " + ", ".join(line))
    return q


def main():
    for exe in (parity_io.driver_path("ops_driver"), parity_io.driver_path("encoder_driver")):
        if not os.path.exists(exe):
            print(f"test_int8.py: driver {exe} not built")
            return 1
    failed = []
    outs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in PATHS:
            print(f"int8 path: {path}")
            outs[path] = [linear_case(failed, tmp, path, 77, 33, 17, "normal"),
                          linear_case(failed, tmp, path, 256, 384, 1536, "normal"),
                          linear_case(failed, tmp, path, 130, 1536, 384, "gelu-like")]
            for args in (["--pool", "mean"], ["--pool", "cls", "--act", "gelu_new", "--normalize", "--seed", "7"],
                         ["--minilm", "--pool", "mean", "--seed", "5"]):
                outs[path].append(encoder_case(failed, tmp, args, path)["hidden"])
    same = all(np.array_equal(a, b) for a, b in zip(outs["auto"], outs["fallback"]))
    print(f"  the two paths give the same bits: {'yes' if same else 'NO  FAIL'}")
    if not same:
        failed.append("the avx512_vnni and fallback paths differ")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    print("int8 parity: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
