"""PyTorch parity of every op in src/ops/ops.h and of op_maxsim: the output and the
gradient of every input, on odd shapes (and, for attention and maxsim, packed batches
against padded torch batches with padding masks). torch computes in float64 from the
same float32 inputs.

Error per tensor: max|bienc - torch| / max(max|torch|, 1e-30); must be <= 1e-4.
Run by ctest (BIENC_BUILD_DIR points at the build with torch_ops_driver)."""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import parity_io  # noqa: E402
import torch  # noqa: E402

TOL = 1e-4
rng = np.random.default_rng(1234)
torch.set_num_threads(1)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def t64(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def op_bytes(name):
    return np.frombuffer(name.encode(), dtype=np.uint8).copy()


# ---- torch references: (inputs as float64 leaf tensors, settings) -> output ----

def ref_linear(t, s):
    return torch.nn.functional.linear(t["x"], t["W"], t.get("b"))


def ref_attention(t, s):
    """Packed [T, C] -> padded [B, Lmax, H, D]; softmax(QK^T/sqrt(D) + mask) V per head."""
    off, H = s["offsets"], int(s["n_heads"][0])
    T, C = t["q"].shape
    D = C // H
    lens = np.diff(off)
    B, Lmax = len(lens), max(int(lens.max()), 1)

    def pad(x):
        out = torch.zeros(B, Lmax, C, dtype=torch.float64)
        for b in range(B):
            out[b, : lens[b]] = x[off[b] : off[b + 1]]
        return out.view(B, Lmax, H, D).transpose(1, 2)  # [B, H, L, D]

    q, k, v = pad(t["q"]), pad(t["k"]), pad(t["v"])
    key_pad = torch.tensor(np.arange(Lmax)[None, :] >= lens[:, None])  # [B, L], True = padding
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
    p = torch.softmax(scores, dim=-1)
    p = torch.nan_to_num(p)  # fully padded rows (empty sequences) have no real query anyway
    if "p" in s:
        p = p * attention_mask(s, lens, H, Lmax)
    o = (p @ v).transpose(1, 2).reshape(B, Lmax, C)
    return torch.cat([o[b, : lens[b]] for b in range(B)], dim=0)


def hash_uniform(key, n):
    """rng_hash_uniform(key, i) for i < n, in numpy (splitmix64 of key ^ i * golden)."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        x = np.uint64(key) ^ (i * np.uint64(0xD1B54A32D192ED03))
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def attention_mask(s, lens, H, Lmax):
    """bienc's attention-dropout mask / (1 - p) as a padded [B, H, Lmax, Lmax] tensor:
    element (i, j) of sequence b, head h has index start[b] + h L^2 + i L + j."""
    prob = np.float64(np.float32(s["p"][0]))
    key = int(s["key"][0]) & 0xFFFFFFFFFFFFFFFF
    m = np.zeros((len(lens), H, Lmax, Lmax))
    start = 0
    for b, L in enumerate(lens):
        u = hash_uniform(key, start + H * L * L)[start:].reshape(H, L, L)
        m[b, :, :L, :L] = (u >= prob) / (1.0 - prob)
        start += H * L * L
    return torch.tensor(m)


def ref_dropout(t, s):
    p = float(s["p"][0])
    key = int(s["key"][0]) & 0xFFFFFFFFFFFFFFFF  # the C side reads it as uint64
    x = t["x"]
    keep = hash_uniform(key, x.numel()) >= np.float64(np.float32(p))
    mask = torch.tensor(keep.reshape(x.shape), dtype=torch.float64)
    return x * mask / (1.0 - np.float64(np.float32(p)))


def ref_maxsim(t, s):
    """Token rows qtok, ptok (p names dropout's probability) padded to [n, Lq, C] and
    [m, Lp, C]; s = einsum, padding masked to -inf before the max over passage tokens,
    masked mean over query tokens, times scale."""
    qoff, poff = s["qoffsets"], s["poffsets"]
    qlen, plen = np.diff(qoff), np.diff(poff)
    C = t["qtok"].shape[1]

    def pad(x, off, lens):
        out = torch.zeros(len(lens), int(lens.max()), C, dtype=torch.float64)
        for b in range(len(lens)):
            out[b, : lens[b]] = x[off[b] : off[b + 1]]
        return out

    q, p = pad(t["qtok"], qoff, qlen), pad(t["ptok"], poff, plen)
    sim = torch.einsum("iac,jbc->ijab", q, p)
    p_pad = torch.tensor(np.arange(p.shape[1])[None, :] >= plen[:, None])  # [m, Lp], True = padding
    best = sim.masked_fill(p_pad[None, :, None, :], float("-inf")).amax(dim=-1)  # [n, m, Lq]
    q_real = torch.tensor(np.arange(q.shape[1])[None, :] < qlen[:, None], dtype=torch.float64)  # [n, Lq]
    best = torch.where(q_real[:, None, :] > 0, best, torch.zeros_like(best))
    mean = best.sum(dim=-1) / torch.tensor(qlen, dtype=torch.float64)[:, None]
    return mean * float(s["alpha"][0])


def maxsim_case(label, qlens, plens, C, scale, min_gap=1e-4):
    """Random token rows, redrawn until every max leads its runner-up by min_gap (float32
    rounding must not flip an arg-max, which moves a whole gradient row)."""
    qoff = np.concatenate([[0], np.cumsum(qlens)]).astype(np.int32)
    poff = np.concatenate([[0], np.cumsum(plens)]).astype(np.int32)
    for _ in range(100):
        q, p = randn(int(qoff[-1]), C), randn(int(poff[-1]), C)
        sim = q.astype(np.float64) @ p.astype(np.float64).T
        gap = np.inf
        for j in range(len(plens)):
            if plens[j] > 1:
                top2 = np.sort(sim[:, poff[j] : poff[j + 1]], axis=1)[:, -2:]
                gap = min(gap, float((top2[:, 1] - top2[:, 0]).min()))
        if gap > min_gap:
            break
    else:
        raise RuntimeError(f"{label}: no draw without near-ties")
    return case(label, "maxsim", qtok=q, ptok=p, qoffsets=qoff, poffsets=poff, alpha=np.array([scale], np.float32))


REFS = {
    "linear": ref_linear,
    "add": lambda t, s: t["a"] + t["b"],
    "add_bias": lambda t, s: t["x"] + t["b"],
    "scale": lambda t, s: t["x"] * float(s["alpha"][0]),
    "layernorm": lambda t, s: torch.nn.functional.layer_norm(
        t["x"], t["x"].shape[-1:], t["gamma"], t["beta"], float(s["eps"][0])),
    "gelu": lambda t, s: torch.nn.functional.gelu(
        t["x"], approximate="tanh" if int(s["kind"][0]) == 1 else "none"),
    "softmax": lambda t, s: torch.softmax(t["x"], dim=-1),
    "attention": ref_attention,
    "dropout": ref_dropout,
    "embedding": lambda t, s: t["table"][torch.tensor(s["ids"].astype(np.int64))],
    "maxsim": ref_maxsim,
}

SETTINGS = {"alpha", "eps", "p", "kind", "n_heads", "offsets", "ids", "key", "qoffsets", "poffsets"}


def case(label, op, **kw):
    tensors = {k: v for k, v in kw.items() if k not in SETTINGS}
    settings = {k: v for k, v in kw.items() if k in SETTINGS}
    return label, op, tensors, settings


def cases():
    yield case("linear 13x7->5 +bias", "linear", x=randn(13, 7), W=randn(5, 7), b=randn(5))
    yield case("linear 13x7->5", "linear", x=randn(13, 7), W=randn(5, 7))
    yield case("linear 3x5x33->17", "linear", x=randn(3, 5, 33), W=randn(17, 33, scale=0.2), b=randn(17))
    yield case("linear 1x1->1", "linear", x=randn(1, 1), W=randn(1, 1), b=randn(1))
    yield case("linear 77x33->17", "linear", x=randn(77, 33), W=randn(17, 33), b=randn(17))
    yield case("add_bias 301x37", "add_bias", x=randn(301, 37), b=randn(37))
    yield case("add 13x7", "add", a=randn(13, 7), b=randn(13, 7))
    yield case("add_bias 13x37", "add_bias", x=randn(13, 37), b=randn(37))
    yield case("scale 5x3", "scale", x=randn(5, 3), alpha=np.array([-0.37], np.float32))
    yield case("layernorm 13x37 eps1e-12", "layernorm", x=randn(13, 37, scale=3.0) + 5.0, gamma=randn(37),
               beta=randn(37), eps=np.array([1e-12], np.float32))
    yield case("layernorm 70x37 eps1e-12", "layernorm", x=randn(70, 37), gamma=randn(37), beta=randn(37),
               eps=np.array([1e-12], np.float32))
    yield case("layernorm 2x3x384 eps1e-5", "layernorm", x=randn(2, 3, 384), gamma=randn(384), beta=randn(384),
               eps=np.array([1e-5], np.float32))
    yield case("gelu erf 13x37", "gelu", x=randn(13, 37, scale=3.0), kind=np.array([0], np.int32))
    yield case("gelu tanh 13x37", "gelu", x=randn(13, 37, scale=3.0), kind=np.array([1], np.int32))
    yield case("softmax 13x37", "softmax", x=randn(13, 37, scale=4.0))
    yield case("softmax 3x1", "softmax", x=randn(3, 1))
    for lens, H, D in [([1, 5, 13], 3, 8), ([13, 0, 7, 1], 2, 5), ([1], 1, 4), ([37, 64], 12, 32)]:
        off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        T, C = int(off[-1]), H * D
        yield case(f"attention len {lens} H{H} D{D}", "attention", q=randn(T, C), k=randn(T, C), v=randn(T, C),
                   offsets=off, n_heads=np.array([H], np.int32))
    off = np.array([0, 9, 10, 23], np.int32)
    yield case("attention+dropout len [9, 1, 13] H2 D6", "attention", q=randn(23, 12), k=randn(23, 12),
               v=randn(23, 12), offsets=off, n_heads=np.array([2], np.int32), p=np.array([0.2], np.float32),
               key=np.array([987654321], np.int64))
    yield case("dropout 13x37 p0.1", "dropout", x=randn(13, 37), p=np.array([0.1], np.float32),
               key=np.array([0x1234567887654321], np.int64))
    yield case("dropout 7x5 p0.5", "dropout", x=randn(7, 5), p=np.array([0.5], np.float32),
               key=np.array([-5], np.int64))
    yield case("embedding 11x7 ids13", "embedding", table=randn(11, 7),
               ids=np.array([3, 0, 10, 3, 3, 7, 1, 0, 9, 2, 10, 5, 4], np.int32))
    yield maxsim_case("maxsim q[2,4,3] p[5,1,3,6] C8", [2, 4, 3], [5, 1, 3, 6], 8, 2.5)
    yield maxsim_case("maxsim q[1] p[1] C3", [1], [1], 3, -0.5)
    # more tokens than one tile each way (256 query, 2048 passage tokens), one passage
    # longer than a block, so several OpenMP tiles
    qlens = [9, 31, 1, 17, 20, 8, 12, 30, 25, 3, 14, 16, 22, 19, 11, 7, 18, 27, 10]
    yield maxsim_case("maxsim 300 q tokens x 3100 p tokens C16", qlens, [150, 2100, 1, 300, 64, 385, 100], 16, 1.0)


def main():
    exe = parity_io.driver_path("ops_driver")
    if not os.path.exists(exe):
        print(f"test_ops.py: driver {exe} not built")
        return 1
    worst, failed = 0.0, []
    print(f"{'case':40s} {'tensor':12s} {'max rel err':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, op, tensors, settings) in enumerate(cases()):
            inputs = {"op": op_bytes(op), **tensors, **settings}
            leaves = {k: t64(v) for k, v in tensors.items()}
            ref = REFS[op](leaves, settings)
            G = randn(*ref.shape)
            inputs["G"] = G
            got = parity_io.run_driver(exe, inputs, tmp, f"case{i}")
            ref.backward(torch.tensor(G, dtype=torch.float64))
            pairs = [("out", got["out"], ref.detach().numpy())]
            pairs += [(f"grad_{k}", got[f"grad_{k}"], leaves[k].grad.numpy()) for k in tensors]
            for name, a, b in pairs:
                e = parity_io.rel_err(a, b)
                worst = max(worst, e)
                flag = "" if e <= TOL else "  FAIL"
                print(f"{label:40s} {name:12s} {e:12.2e}{flag}")
                if e > TOL:
                    failed.append(f"{label} {name}")
    print(f"worst relative error {worst:.2e} (tolerance {TOL:.0e})")
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
