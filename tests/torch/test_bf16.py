"""bf16 parity (issue 12): bienc's bf16 matrix products against PyTorch's autocast bf16,
against exact arithmetic, and against bienc fp32, on both bf16 paths (the one this CPU
runs, and the portable fallback forced with BIENC_BF16_PATH=fallback).

What bf16 means in bienc: the inputs of every matrix product of linear and attention
(forward and both backward products) are rounded to bf16 (8 significant bits), products
are accumulated in fp32, every tensor stays fp32. PyTorch's autocast rounds the same
inputs and ALSO rounds each product's output to bf16 (and runs GELU / the residual adds
on those bf16 values), so the two are not bit-equal: each is within bf16 rounding of the
exact result, and their difference is the sum of two such errors.

Tolerances, and why:
  * linear against the exact product of the bf16-rounded inputs (float64): only fp32
    summation error is left, |err| <= 2 K 2^-24 sum_k |a_k b_k| element by element. This
    proves the kernel computes exactly "bf16 inputs, fp32 accumulation".
  * anything against autocast / fp64 / bienc fp32: rounding an input to bf16 moves it by
    at most 2^-9 relative, a product of two rounded inputs by 2^-8. Summed over K terms
    with random signs the errors grow like sqrt(K) but so does the sum, so a product's
    normwise relative error stays about 2^-8 (0.4%) whatever K; through a 2-layer encoder
    and its backward the errors of ~20 products add up. We require, for EVERY tensor
    (outputs and each parameter's gradient), cosine similarity >= 0.999 (a normwise
    relative error up to ~4.5%, ten times the single-product error) and
    max|a - b| / max|b| <= 2^-8 sqrt(K_max) per source of rounding: the worst-case growth
    of per-term errors of size 2^-8 that do not cancel, K_max the longest inner dimension.
    An op's output has one source (its forward product), a gradient of the encoder two
    (the forward products it depends on and the backward ones); a comparison with
    autocast, which has its own error of the same size, doubles the count. Exact
    references are fp64 and bienc fp32 (itself within 1e-6 of fp64). The figures printed
    show the margins.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import parity_io  # noqa: E402

COS_MIN = 0.999
U = 2.0 ** -8
rng = np.random.default_rng(12)
torch.set_num_threads(1)
PATHS = ["auto", "fallback"]


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def bf16(a):
    """Round float32 to the nearest bf16 (ties to even), as float64."""
    return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(torch.bfloat16).double().numpy()


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 and nb == 0.0:
        return 1.0
    return float(a @ b / max(na * nb, 1e-300))


def env_for(path):
    return parity_io.kernel_env("BIENC_BF16_PATH", path)


def run_ops_driver(inputs, tmp, tag, path):
    return parity_io.run_driver(parity_io.driver_path("ops_driver"), inputs, tmp, tag, env=env_for(path))


class Report:
    def __init__(self):
        self.failed = []
        self.worst_cos = 1.0
        self.worst_rel = 0.0

    def compare(self, label, name, got, ref, kmax, factor=2.0):
        c, r = cosine(got, ref), parity_io.rel_err(got, ref)
        tol = factor * U * math.sqrt(kmax)
        ok = c >= COS_MIN and r <= tol
        self.worst_cos, self.worst_rel = min(self.worst_cos, c), max(self.worst_rel, r)
        print(f"  {label:44s} {name:34s} cos {c:.6f}  max rel {r:.2e} (<= {tol:.2e}){'' if ok else '  FAIL'}")
        if not ok:
            self.failed.append(f"{label} {name}")

    def exact(self, label, name, got, ref, bound):
        err = np.abs(np.asarray(got, np.float64) - ref)
        ok = bool(np.all(err <= bound))
        worst = float(np.max(err / np.maximum(bound, 1e-300)))
        print(f"  {label:44s} {name:34s} vs exact bf16 product: max err / fp32 bound {worst:.3f}{'' if ok else '  FAIL'}")
        if not ok:
            self.failed.append(f"{label} {name} (exact)")


# ---- ops ----

def linear_case(rep, tmp, path, R, Cin, Cout):
    label = f"linear {R}x{Cin}->{Cout} [{path}]"
    x, W, b, G = randn(R, Cin), randn(Cout, Cin, scale=Cin ** -0.5), randn(Cout), randn(R, Cout)
    got = run_ops_driver({"op": np.frombuffer(b"linear", np.uint8).copy(), "x": x, "W": W, "b": b, "G": G,
                          "precision": np.array([1], np.int32)}, tmp, f"lin{R}_{Cin}_{Cout}", path)
    # exact arithmetic on the rounded inputs: only fp32 summation error may remain
    xr, Wr, Gr = bf16(x), bf16(W), bf16(G)
    eps = 2.0 ** -24
    rep.exact(label, "out", got["out"], xr @ Wr.T + b, 2 * Cin * eps * (np.abs(xr) @ np.abs(Wr).T) + 1e-6 * np.abs(b))
    rep.exact(label, "grad_x", got["grad_x"], Gr @ Wr, 2 * Cout * eps * (np.abs(Gr) @ np.abs(Wr)) + 1e-30)
    rep.exact(label, "grad_W", got["grad_W"], Gr.T @ xr, 2 * R * eps * (np.abs(Gr).T @ np.abs(xr)) + 1e-30)
    # PyTorch autocast bf16 (fp32 leaves, as in mixed-precision training)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.nn.functional.linear(tx, tW, tb)
    y.float().backward(torch.from_numpy(G))
    kmax = max(R, Cin, Cout)
    for name, ref in (("out", y.float().detach().numpy()), ("grad_x", tx.grad.numpy()), ("grad_W", tW.grad.numpy()),
                      ("grad_b", tb.grad.numpy())):
        rep.compare(label, name + " vs torch autocast", got[name], ref, kmax)


def attention_ref(q, k, v, off, H, dtype):
    """Packed [T, C] -> padded [B, H, L, D]; softmax(QK^T/sqrt(D) + mask) V per head."""
    T, C = q.shape
    D = C // H
    lens = np.diff(off)
    B, Lmax = len(lens), int(lens.max())

    def pad(x):
        out = torch.zeros(B, Lmax, C, dtype=dtype)
        for s in range(B):
            out[s, : lens[s]] = x[off[s]: off[s + 1]]
        return out.view(B, Lmax, H, D).transpose(1, 2)

    key_pad = torch.tensor(np.arange(Lmax)[None, :] >= lens[:, None])
    s = pad(q) @ pad(k).transpose(-1, -2) / math.sqrt(D)
    s = s.float().masked_fill(key_pad[:, None, None, :], float("-inf"))
    p = torch.softmax(s, dim=-1)
    o = (p @ pad(v)).transpose(1, 2).reshape(B, Lmax, C)
    return torch.cat([o[b, : lens[b]] for b in range(B)], dim=0)


def attention_case(rep, tmp, path, lens, H, D):
    label = f"attention len {lens} H{H} D{D} [{path}]"
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    T, C = int(off[-1]), H * D
    q, k, v, G = randn(T, C), randn(T, C), randn(T, C), randn(T, C)
    got = run_ops_driver({"op": np.frombuffer(b"attention", np.uint8).copy(), "q": q, "k": k, "v": v,
                          "offsets": off, "n_heads": np.array([H], np.int32), "G": G,
                          "precision": np.array([1], np.int32)}, tmp, f"att{T}", path)
    leaves = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attention_ref(*leaves, off, H, torch.float32)
    y.float().backward(torch.from_numpy(G))
    kmax = max(max(lens), D)
    rep.compare(label, "out vs torch autocast", got["out"], y.float().detach().numpy(), kmax)
    for name, t in zip("qkv", leaves):
        rep.compare(label, f"grad_{name} vs torch autocast", got[f"grad_{name}"], t.grad.numpy(), kmax)


# ---- whole encoder ----

def encoder_driver():
    return parity_io.driver_path("encoder_driver")


def run_encoder(args, path, tmp, tag):
    out = os.path.join(tmp, tag + ".bin")
    subprocess.run([encoder_driver(), out] + args, check=True, env=env_for(path))
    return bert_ref.read_records(out)


def torch_encoder(rec, dtype, autocast):
    V, C, L, H, I, P, Y, eps, act, pool_id, normalize = rec["config"].tolist()
    cfg = bert_ref.Cfg(vocab_size=int(V), hidden_size=int(C), num_layers=int(L), num_heads=int(H),
                       intermediate_size=int(I), max_position_embeddings=int(P), type_vocab_size=int(Y),
                       layer_norm_eps=float(eps), activation="gelu_new" if int(act) == 1 else "gelu")
    model = bert_ref.Bert(cfg).to(dtype)
    params = {k[len("param/"):]: v for k, v in rec.items() if k.startswith("param/")}
    model.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in params.items()}, strict=True)
    offs = rec["offsets"].astype(np.int64)
    n = len(offs) - 1
    lens = offs[1:] - offs[:-1]
    Lmax = int(lens.max())
    ids = torch.zeros(n, Lmax, dtype=torch.long)
    types = torch.zeros(n, Lmax, dtype=torch.long)
    mask = torch.zeros(n, Lmax, dtype=torch.long)
    for s in range(n):
        ids[s, :lens[s]] = torch.from_numpy(rec["ids"][offs[s]:offs[s + 1]].astype(np.int64))
        types[s, :lens[s]] = torch.from_numpy(rec["type_ids"][offs[s]:offs[s + 1]].astype(np.int64))
        mask[s, :lens[s]] = 1
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        hidden = model(ids, types, mask)
        emb = bert_ref.pool(hidden.to(dtype), mask, ["mean", "cls", "max"][int(pool_id)])
    if normalize:
        emb = torch.nn.functional.normalize(emb, p=2, dim=1)
    emb.to(dtype).backward(torch.from_numpy(rec["upstream"]).to(dtype))
    packed = torch.cat([hidden[s, :lens[s]] for s in range(n)]).to(dtype).detach().numpy()
    out = {"hidden": packed, "pooled": emb.to(dtype).detach().numpy()}
    for name, p in model.named_parameters():
        out["grad/" + name] = p.grad.to(dtype).numpy()
    return out


def encoder_case(rep, tmp, args, path):
    label = f"encoder {' '.join(args)} [{path}]"
    bf = run_encoder(args + ["--precision", "bf16"], path, tmp, "bf")
    fp = run_encoder(args, path, tmp, "fp")
    kmax = int(max(rec for rec in bf["config"][[1, 4]]))  # hidden, intermediate
    refs = {"torch autocast": torch_encoder(bf, torch.float32, True), "torch fp64": torch_encoder(bf, torch.float64, False),
            "bienc fp32": {k: v for k, v in fp.items() if k in ("hidden", "pooled") or k.startswith("grad/")}}
    for ref_name, ref in refs.items():
        tol = (4.0 if ref_name == "torch autocast" else 2.0) * U * math.sqrt(kmax)
        worst, worst_rel = (1.0, 0.0, ""), 0.0
        scale = max(np.abs(v).max() for k, v in ref.items() if k.startswith("grad/"))
        bad = []
        for name, r in ref.items():
            g = bf[name]
            if name.endswith("attention.self.key.bias"):
                # its true gradient is exactly 0 (softmax ignores a constant per row): both
                # sides must be ~0 relative to the gradients' scale instead
                if max(np.abs(g).max(), np.abs(r).max()) > 1e-3 * scale:
                    bad.append(name)
                continue
            c, e = cosine(g, r), parity_io.rel_err(g, r)
            rep.worst_cos, rep.worst_rel = min(rep.worst_cos, c), max(rep.worst_rel, e)
            if c < worst[0]:
                worst = (c, e, name)
            worst_rel = max(worst_rel, e)
            if c < COS_MIN or e > tol:
                bad.append(f"{name} (cos {c:.5f}, rel {e:.2e})")
        n = sum(1 for k in ref if k.startswith("grad/"))
        print(f"  {label:44s} vs {ref_name:14s}: hidden cos {cosine(bf['hidden'], ref['hidden']):.6f}, "
              f"{n} grads, worst cos {worst[0]:.6f} ({worst[2]}), worst max rel {worst_rel:.2e} (<= {tol:.2e})"
              f"{'  FAIL' if bad else ''}")
        for b in bad:
            rep.failed.append(f"{label} vs {ref_name}: {b}")
    # for scale: bienc fp32 itself against fp64
    c = min(cosine(fp[k], v) for k, v in refs["torch fp64"].items() if not k.endswith("key.bias"))
    print(f"  {'':44s} (bienc fp32 vs torch fp64: worst cos {c:.9f})")


def check_version_reports(path):
    exe = os.environ.get("BIENC_BIN")
    if not exe or not os.path.exists(exe):
        return True
    out = subprocess.run([exe, "version"], capture_output=True, text=True, env=env_for(path)).stdout
    line = next((l for l in out.splitlines() if l.startswith("bf16:")), "")
    ok = path != "fallback" or line.startswith("bf16: fallback")
    print(f"  bienc version [{path}]: {line}{'' if ok else '  FAIL'}")
    return ok


def main():
    for exe in (parity_io.driver_path("ops_driver"), encoder_driver()):
        if not os.path.exists(exe):
            print(f"test_bf16.py: driver {exe} not built")
            return 1
    rep = Report()
    with tempfile.TemporaryDirectory() as tmp:
        for path in PATHS:
            print(f"bf16 path: {path}")
            if not check_version_reports(path):
                rep.failed.append(f"bienc version does not report the {path} path")
            linear_case(rep, tmp, path, 77, 33, 17)
            linear_case(rep, tmp, path, 256, 384, 1536)
            linear_case(rep, tmp, path, 300, 1536, 384)
            attention_case(rep, tmp, path, [1, 37, 64], 12, 32)
            attention_case(rep, tmp, path, [13, 0, 7, 1], 2, 5)
            encoder_case(rep, tmp, ["--pool", "mean"], path)
            encoder_case(rep, tmp, ["--pool", "cls", "--act", "gelu_new", "--normalize", "--seed", "7"], path)
            encoder_case(rep, tmp, ["--minilm", "--pool", "mean", "--seed", "5"], path)
    print(f"worst cosine {rep.worst_cos:.6f} (>= {COS_MIN}), worst max rel error {rep.worst_rel:.2e}")
    if rep.failed:
        print("FAILED:\n  " + "\n  ".join(rep.failed))
        return 1
    print("bf16 parity: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
