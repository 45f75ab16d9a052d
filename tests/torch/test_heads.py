"""Pooling, similarity and loss parity with PyTorch (issues 2 and 4).

For each case this script draws inputs (odd shapes), runs torch_heads_driver (bienc, float32)
on them with a random upstream gradient, and recomputes the same function in PyTorch
(float64, the oracle) the way sentence-transformers does it:
  - pooling on the PADDED batch with an attention mask (Pooling module: mean =
    sum(x * mask) / clamp(mask.sum, 1e-9), max over tokens with padding filled by -1e9,
    cls = token 0), while bienc pools the packed batch;
  - util.cos_sim (normalize then mm), MultipleNegativesRankingLoss = CrossEntropyLoss(
    cos_sim(q, docs) * scale, arange(B)), its symmetric variant, TripletLoss
    (F.pairwise_distance / 1 - F.cosine_similarity, relu, mean), MarginMSELoss
    (pairwise dot scores, MSELoss), DistillKLDivLoss (pairwise similarity of each query
    with its 1 + K passages, times bienc's scale, then F.kl_div(F.log_softmax(s / T),
    F.softmax(teacher / T), reduction="batchmean") * T^2; plus loss.in_batch_weight x MNRL,
    the trainer's sum), BCEWithLogitsLoss, MSELoss,
    CrossEntropyLoss;
  - BERT's MLM head and loss (BertForMaskedLM: cls.predictions.transform = dense, gelu or
    gelu_new, LayerNorm; decoder tied to the word embeddings plus cls.predictions.bias;
    CrossEntropyLoss over the masked positions, labels -100 elsewhere), with repeated
    label ids and masked rows so the tied-decoder and gather gradients accumulate.
Outputs and every input gradient are compared: rel = max|bienc - torch| / max|torch| per
tensor must be <= 1e-4 (1e-5 for DistillKLDivLoss). Prints a table of the errors; exits 1 on any failure.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-4
TOL_TIGHT = {"distill_kl_": 1e-5}  # cases (by name prefix) held to a tighter bound


def tolerance(case):
    return next((t for prefix, t in TOL_TIGHT.items() if case.startswith(prefix)), TOL)
build = os.environ.get("BIENC_BUILD_DIR", "build")
driver = next((p for p in (os.path.join(build, "tests", "torch_heads_driver"),
                           os.path.join(build, "torch_heads_driver")) if os.path.exists(p)),
              os.path.join(build, "tests", "torch_heads_driver"))
rng = np.random.default_rng(20261129)


# ---- binary records: u32 name_len, name, u32 dtype (0 f32, 1 i32), u32 ndim, i64 dims, data
def write_records(path, recs):
    with open(path, "wb") as f:
        for name, arr in recs.items():
            arr = np.ascontiguousarray(arr)
            code = 1 if arr.dtype.kind in "iu" else 0
            arr = arr.astype("<i4" if code else "<f4")
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", code, arr.ndim))
            f.write(struct.pack("<%dq" % arr.ndim, *arr.shape))
            f.write(arr.tobytes())


def read_records(path):
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + n].decode()
        pos += n
        code, ndim = struct.unpack_from("<II", data, pos)
        pos += 8
        dims = struct.unpack_from("<%dq" % ndim, data, pos)
        pos += 8 * ndim
        count = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<i4" if code else "<f4", count=count, offset=pos).reshape(dims)
        pos += 4 * count
        out[name] = arr
    return out


def run_driver(case, recs):
    with tempfile.TemporaryDirectory() as d:
        fin, fout = os.path.join(d, "in.bin"), os.path.join(d, "out.bin")
        write_records(fin, recs)
        subprocess.run([driver, case, fin, fout], check=True)
        return read_records(fout)


def rel_err(got, ref):
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.abs(ref).max()
    diff = np.abs(np.asarray(got, np.float64) - ref).max()
    return float(diff / scale) if scale > 0 else float(diff)


# ---- torch references (float64) -------------------------------------------------------
def st_pool(x_packed, offsets, mode):
    """sentence-transformers' Pooling on the padded batch built from the packed rows."""
    lens = np.diff(offsets)
    n, L, C = len(lens), int(lens.max()), x_packed.shape[1]
    idx = torch.zeros(n, L, dtype=torch.long)
    mask = torch.zeros(n, L, dtype=torch.float64)
    for s in range(n):
        idx[s, :lens[s]] = torch.arange(offsets[s], offsets[s + 1])
        mask[s, :lens[s]] = 1.0
    tokens = x_packed[idx.reshape(-1)].reshape(n, L, C)  # padding rows repeat row 0, masked out
    m = mask.unsqueeze(-1).expand(tokens.size())
    if mode == "cls":
        return tokens[:, 0]
    if mode == "max":
        tokens = tokens.clone()
        tokens[m == 0] = -1e9
        return torch.max(tokens, 1)[0]
    return torch.sum(tokens * m, 1) / torch.clamp(m.sum(1), min=1e-9)


def st_cos_sim(a, b):
    return torch.mm(F.normalize(a, p=2, dim=1), F.normalize(b, p=2, dim=1).transpose(0, 1))


def st_mnrl(q, docs, scale):
    scores = st_cos_sim(q, docs) * scale
    labels = torch.arange(len(scores))
    return torch.nn.CrossEntropyLoss()(scores, labels)


def st_mnrl_symmetric(q, docs, scale):
    B = q.shape[0]
    scores = st_cos_sim(q, docs) * scale
    labels = torch.arange(len(scores))
    forward_loss = torch.nn.CrossEntropyLoss()(scores, labels)
    backward_loss = torch.nn.CrossEntropyLoss()(scores[:, 0:B].transpose(0, 1), labels)
    return (forward_loss + backward_loss) / 2


def st_triplet(a, p, n, margin, metric):
    if metric == "euclidean":
        d_ap, d_an = F.pairwise_distance(a, p, p=2), F.pairwise_distance(a, n, p=2)
    else:
        d_ap, d_an = 1 - F.cosine_similarity(a, p), 1 - F.cosine_similarity(a, n)
    return F.relu(d_ap - d_an + margin).mean()


def st_margin_mse(q, p, n, labels):
    margin_pred = (q * p).sum(dim=-1) - (q * n).sum(dim=-1)
    return torch.nn.MSELoss()(margin_pred, labels)


def st_distill_kl(q, docs, teacher, sim, scale, T):
    """sentence-transformers' DistillKLDivLoss with bienc's scale (ST: scale 1, dot)."""
    B = q.shape[0]
    G = docs.shape[0] // B
    passages = [docs[j * B:(j + 1) * B] for j in range(G)]
    if sim == "cos":
        s = torch.stack([(F.normalize(q, dim=1) * F.normalize(p, dim=1)).sum(-1) for p in passages], dim=1)
    else:
        s = torch.stack([(q * p).sum(-1) for p in passages], dim=1)
    s = s * scale
    return F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean") * T * T


# ---- cases -----------------------------------------------------------------------------
def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def make_cases():
    cases = []
    offsets = np.array([0, 1, 5, 14, 16, 33], dtype=np.int32)  # lengths 1, 4, 9, 2, 17
    x = randn(33, 13)
    for mode in ("mean", "cls", "max"):
        cases.append(("pool_" + mode, {"x": x, "offsets": offsets},
                      lambda t, mode=mode: st_pool(t["x"], offsets, mode)))
    a, b = randn(5, 37), randn(11, 37)
    cases.append(("l2_normalize", {"x": a}, lambda t: F.normalize(t["x"], p=2, dim=1)))
    cases.append(("cos_sim", {"a": a, "b": b}, lambda t: st_cos_sim(t["a"], t["b"])))
    cases.append(("cos_sim_scaled", {"a": a, "b": b, "params": np.float32([20.0])},
                  lambda t: st_cos_sim(t["a"], t["b"]) * 20.0))
    cases.append(("dot", {"a": a, "b": b}, lambda t: t["a"] @ t["b"].T))
    b5 = randn(5, 37)
    cases.append(("row_dot", {"a": a, "b": b5}, lambda t: (t["a"] * t["b"]).sum(-1)))
    cases.append(("concat", {"a": a, "b": b}, lambda t: torch.cat([t["a"], t["b"]])))
    labels = np.array([0, 6, 2, 8, 8, 1, 3], dtype=np.int32)
    logits = randn(7, 9) * 3
    cases.append(("cross_entropy", {"logits": logits, "labels": labels},
                  lambda t: F.cross_entropy(t["logits"], torch.from_numpy(labels.astype(np.int64)))))
    ta, tp, tn = randn(9, 19), randn(9, 19), randn(9, 19)
    cases.append(("triplet_euclidean", {"a": ta, "p": tp, "n": tn, "params": np.float32([1.0])},
                  lambda t: st_triplet(t["a"], t["p"], t["n"], 1.0, "euclidean")))
    cases.append(("triplet_cosine", {"a": ta, "p": tp, "n": tn, "params": np.float32([0.3])},
                  lambda t: st_triplet(t["a"], t["p"], t["n"], 0.3, "cosine")))
    # a near-zero anchor (norm 1e-9 < eps 1e-8): the clamped norm must match torch's
    tiny = ta.copy()
    tiny[2] = 0.0
    tiny[2, 0] = 1e-9
    cases.append(("triplet_cosine_tiny", {"a": tiny, "p": tp, "n": tn, "params": np.float32([0.3])},
                  lambda t: st_triplet(t["a"], t["p"], t["n"], 0.3, "cosine")))
    cases.append(("mse", {"a": a, "b": b5}, lambda t: torch.nn.MSELoss()(t["a"], t["b"])))
    bl = np.concatenate([randn(11) * 4, np.float32([100, -100, 100, -100])])
    bt = np.concatenate([rng.uniform(0, 1, 11).astype(np.float32), np.float32([1, 1, 0, 0])])
    cases.append(("bce", {"logits": bl, "targets": bt},
                  lambda t: torch.nn.BCEWithLogitsLoss()(t["logits"], torch.from_numpy(bt.astype(np.float64)))))
    # MNRL: B = 6 queries, k = 2 hard negatives each -> docs = 6 positives + 12 negatives
    q = randn(6, 23)
    docs = np.concatenate([q + 0.8 * randn(6, 23), randn(12, 23)])
    for name, fn in (("mnrl", st_mnrl), ("mnrl_symmetric", st_mnrl_symmetric)):
        cases.append((name, {"q": q, "docs": docs, "params": np.float32([20.0])},
                      lambda t, fn=fn: fn(t["q"], t["docs"], 20.0)))
    mq, mp, mn = randn(7, 15), randn(7, 15), randn(7, 15)
    teacher = randn(7) * 2
    cases.append(("margin_mse", {"q": mq, "p": mp, "n": mn, "targets": teacher},
                  lambda t: st_margin_mse(t["q"], t["p"], t["n"], torch.from_numpy(teacher.astype(np.float64)))))
    # DistillKLDivLoss: B = 5 queries, K = 3 negatives each; teacher logits of a cross-encoder's size
    kq = randn(5, 21)
    kdocs = np.concatenate([kq + 0.7 * randn(5, 21), randn(15, 21)])
    kteacher = randn(5, 4) * 3
    kt64 = torch.from_numpy(kteacher.astype(np.float64))
    for sim, scale, T in (("cos", 20.0, 1.0), ("cos", 20.0, 2.0), ("dot", 1.0, 1.0), ("dot", 0.5, 2.0), ("dot", 1.0, 0.3)):
        cases.append(("distill_kl_%s_T%g" % (sim, T), {"q": kq, "docs": kdocs, "targets": kteacher,
                                            "params": np.float32([scale, T])},
                      lambda t, sim=sim, scale=scale, T=T: st_distill_kl(t["q"], t["docs"], kt64, sim, scale, T)))
    # DistillKLDivLoss + loss.in_batch_weight x MNRL over the same batch (the trainer's sum)
    cases.append(("distill_kl_mnrl", {"q": kq, "docs": kdocs, "targets": kteacher,
                                       "params": np.float32([20.0, 0.5, 0.7])},
                  lambda t: st_distill_kl(t["q"], t["docs"], kt64, "cos", 20.0, 0.5) + 0.7 * st_mnrl(t["q"], t["docs"], 20.0)))
    # MLM: T = 29 token states, C = 24, V = 53; 9 masked rows (label 7 twice, row 3 masked once)
    T, C, V = 29, 24, 53
    positions = np.array([1, 3, 4, 8, 12, 17, 18, 25, 27], dtype=np.int32)
    mlabels = np.array([7, 0, 52, 7, 11, 30, 2, 45, 19], dtype=np.int32)
    mlm = {"hidden": randn(T, C), "word_emb": randn(V, C) * 0.5, "dense_w": randn(C, C) * 0.2,
           "dense_b": randn(C) * 0.1, "ln_w": 1 + 0.1 * randn(C), "ln_b": 0.1 * randn(C), "bias": 0.1 * randn(V),
           "positions": positions, "labels": mlabels, "params": np.float32([1e-12])}
    for act in ("gelu", "gelu_new"):
        cases.append(("mlm_" + act, mlm, lambda t, act=act: bert_mlm_loss(t, positions, mlabels, T, act, 1e-12)))
    return cases


def bert_mlm_loss(t, positions, labels, T, act, eps):
    """BertForMaskedLM's head and loss on the states of all T tokens (labels -100 where unmasked)."""
    x = t["hidden"] @ t["dense_w"].T + t["dense_b"]
    x = F.gelu(x, approximate="tanh" if act == "gelu_new" else "none")
    x = F.layer_norm(x, (x.shape[-1],), t["ln_w"], t["ln_b"], eps)
    logits = x @ t["word_emb"].T + t["bias"]
    full = torch.full((T,), -100, dtype=torch.long)
    full[torch.from_numpy(positions.astype(np.int64))] = torch.from_numpy(labels.astype(np.int64))
    return torch.nn.CrossEntropyLoss()(logits, full)


def main():
    if not os.path.exists(driver):
        print("torch_heads_driver not found at %s (build the target first)" % driver)
        return 1
    torch.set_num_threads(1)
    failed, rows = [], []
    for case, recs, fn in make_cases():
        inputs = {k: v for k, v in recs.items() if v.dtype == np.float32 and k not in ("targets", "params")}
        t = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in inputs.items()}
        ref = fn(t)
        upstream = rng.uniform(-1, 1, tuple(ref.shape) or (1,)).astype(np.float32)
        ref.backward(torch.from_numpy(upstream.astype(np.float64)).reshape(ref.shape))
        got = run_driver(case, dict(recs, upstream=upstream))
        errs = {"out": rel_err(got["out"].reshape(-1), ref.detach().numpy().reshape(-1))}
        for k in inputs:
            errs["d" + k] = rel_err(got["grad/" + k], t[k].grad.numpy())
        worst = max(errs.values())
        rows.append((case, errs, worst))
        if not worst <= tolerance(case):
            failed.append(case)
    print("%-20s %10s  %s" % ("case", "max rel", "per tensor (rel = max|bienc-torch| / max|torch|)"))
    for case, errs, worst in rows:
        detail = "  ".join("%s %.1e" % kv for kv in errs.items())
        print("%-20s %10.2e  %s%s" % (case, worst, detail, "  FAIL" if not worst <= tolerance(case) else ""))
    print("max error over all cases: %.2e (tolerance %.0e)" % (max(r[2] for r in rows), TOL))
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
