#!/usr/bin/python3
"""Quality parity (issue 4, item 9): the same small bi-encoder trained by `bienc train` and
by PyTorch, from the same initial weights, on the same batches in the same order, with the
same optimiser, reaches the same dev MRR@10 (|difference| <= 0.02).

usage: eval/quality_parity.sh [--steps 300] [--lr 2e-4] [--batch 32] [--work DIR] [--out FILE]
       (builds bienc and torch_quality_parity_driver in $BUILD_DIR, default build/, then runs
       this under the heavy-work lock; a few minutes on 2 cores)

What happens:
 1. `bienc data debian --output WORK/debian` (the built-in Debian set) unless it exists, and
    `bienc vocab train` (8000 WordPiece tokens from the collection) -> WORK/vocab.txt.
 2. The run: configs/quickstart.yaml (tiny model: hidden 128, 2 layers, 2 heads,
    intermediate 512; mean pooling; queries 32 / passages 128 tokens; MNRL scale 20 with the
    triple's negative as a hard negative; batch 32) with --set overrides: that vocabulary,
    dropout 0 (no RNG difference between the two sides), --steps steps at --lr peak,
    warm-up 10% then linear decay, AdamW (eps 1e-6, weight decay 0.01, not on biases and
    LayerNorm), clipping at 1.0, evaluation only at the end.
 3. torch_quality_parity_driver (tests/torch/quality_parity_driver.c) calls the trainer's own
    data loading, model construction, sampler and batch builder with that config: it writes
    the step-0 weights (init.h5), the token ids of every batch, and the trainer's dev
    evaluation set (the first eval.max_queries dev queries with a relevant passage; their
    relevant passages + the first --eval-passages collection rows) tokenised.
 4. `bienc train` runs (metrics.jsonl: the loss of every step; its final evaluation: exact
    cosine search, MRR@10).
 5. PyTorch (tests/torch/bert_ref.py, BertModel's module tree) loads init.h5 with h5py and
    trains on the dumped batches: torch.optim.AdamW + LambdaLR (warm-up linear) +
    clip_grad_norm_; then encodes the same dev queries and passages, exact cosine top-10,
    MRR@10 against the same qrels.
 6. As a check of the evaluation itself, PyTorch's evaluation code also scores bienc's final
    checkpoint: it must reproduce bienc's own MRR@10.
Prints the per-step losses of both (identical at step 1 up to float rounding; the
trajectories drift apart slowly afterwards, as any two float implementations do), both
MRR@10 and their difference; writes eval/results/quality_parity.md. Exit status 1 when the
difference exceeds 0.02.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "torch"))
import bert_ref  # noqa: E402


def read_sides(path, count=None):
    """[(offsets, ids)] of a file of packed sides (int32 n, T, offsets[n+1], ids[T])."""
    buf = np.fromfile(path, dtype="<i4")
    out, pos = [], 0
    while pos < len(buf) and (count is None or len(out) < count):
        n, T = int(buf[pos]), int(buf[pos + 1])
        offs = buf[pos + 2:pos + 3 + n].astype(np.int64)
        ids = buf[pos + 3 + n:pos + 3 + n + T].astype(np.int64)
        pos += 3 + n + T
        out.append((offs, ids))
    return out


def padded(side, lo=0, hi=None):
    offs, flat = side
    hi = len(offs) - 1 if hi is None else hi
    lens = offs[lo + 1:hi + 1] - offs[lo:hi]
    ids = torch.zeros(hi - lo, int(lens.max()), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for s in range(hi - lo):
        ids[s, :lens[s]] = torch.from_numpy(flat[offs[lo + s]:offs[lo + s + 1]])
        mask[s, :lens[s]] = 1
    return ids, mask


def load_model(h5path):
    with h5py.File(h5path, "r") as f:
        at = f["model"].attrs
        g = lambda k: at[k].item() if hasattr(at[k], "item") else at[k]
        act = g("activation")
        act = act.decode() if isinstance(act, bytes) else str(act)
        cfg = bert_ref.Cfg(vocab_size=int(g("vocab_size")), hidden_size=int(g("hidden_size")),
                           num_layers=int(g("num_layers")), num_heads=int(g("num_heads")),
                           intermediate_size=int(g("intermediate_size")),
                           max_position_embeddings=int(g("max_position_embeddings")),
                           type_vocab_size=int(g("type_vocab_size")), layer_norm_eps=float(g("layer_norm_eps")),
                           activation=act, hidden_dropout=0.0, attention_dropout=0.0)
        model = bert_ref.Bert(cfg)
        state = {name: torch.from_numpy(np.asarray(f["params"][name], dtype=np.float32))
                 for name in model.state_dict()}
    model.load_state_dict(state, strict=True)
    return model


def embed(model, ids, mask):
    return bert_ref.pool(model(ids, torch.zeros_like(ids), mask), mask, "mean")


def mnrl_loss(model, q, p, scale):
    qe, pe = embed(model, *q), embed(model, *p)
    scores = scale * torch.nn.functional.normalize(qe, dim=1) @ torch.nn.functional.normalize(pe, dim=1).T
    return torch.nn.functional.cross_entropy(scores, torch.arange(qe.shape[0]))


def train_torch(model, batches, a, warmup):
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-6)
    total = len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    model.train()
    losses = []
    for q, p in batches:
        opt.zero_grad()
        loss = mnrl_loss(model, padded(q), padded(p), 20.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def encode(model, side, bs=128):
    model.eval()
    n = len(side[0]) - 1
    out = [embed(model, *padded(side, lo, min(n, lo + bs))) for lo in range(0, n, bs)]
    return torch.nn.functional.normalize(torch.cat(out), dim=1)


def mrr10(model, work, qrels):
    qside = read_sides(os.path.join(work, "dump", "eval_q.bin"))[0]
    pside = read_sides(os.path.join(work, "dump", "eval_p.bin"))[0]
    qids = open(os.path.join(work, "dump", "eval_qids.txt")).read().split()
    pids = open(os.path.join(work, "dump", "eval_pids.txt")).read().split()
    qe, pe = encode(model, qside), encode(model, pside)
    top = torch.topk(qe @ pe.T, 10, dim=1).indices.numpy()
    rr = []
    for i, q in enumerate(qids):
        rel = qrels.get(q, set())
        rr.append(next((1.0 / (r + 1) for r, j in enumerate(top[i]) if pids[j] in rel), 0.0))
    return float(np.mean(rr)), len(qids), len(pids)


def read_qrels(path):
    qrels = {}
    for line in open(path):
        f = line.split()
        if len(f) < 2:
            continue
        grade = int(f[3]) if len(f) == 4 else int(f[2]) if len(f) == 3 and f[2].lstrip("-").isdigit() else 1
        if grade >= 1:
            qrels.setdefault(f[0], set()).add(f[2] if len(f) == 4 else f[1])
    return qrels


def sh(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--work", default="/tmp/bienc-quality-parity")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-queries", type=int, default=500)
    ap.add_argument("--eval-passages", type=int, default=10000)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "quality_parity.md"))
    a = ap.parse_args()
    bienc = os.path.join(a.build_dir, "bienc")
    driver = os.path.join(a.build_dir, "tests", "torch_quality_parity_driver")
    for exe in (bienc, driver):
        if not os.path.exists(exe):
            print("missing %s: build the targets bienc and torch_quality_parity_driver (eval/quality_parity.sh does)"
                  % exe)
            return 1
    torch.set_num_threads(a.threads)
    w = os.path.abspath(a.work)
    data, vocab, dump = os.path.join(w, "debian"), os.path.join(w, "vocab.txt"), os.path.join(w, "dump")
    os.makedirs(dump, exist_ok=True)
    if not os.path.exists(os.path.join(data, "triples.train.tsv")):
        sh([bienc, "data", "debian", "--output", data])
    if not os.path.exists(vocab):
        sh([bienc, "vocab", "train", "--corpus", os.path.join(data, "collection.tsv"), "--tsv-column", "2",
            "--size", str(a.vocab_size), "--output", vocab])
    warmup = int(np.ceil(0.1 * a.steps))
    sets = ["data.dir=" + data, "tokenizer.vocab=" + vocab, "model.size=tiny", "model.dropout=0",
            "model.attention_dropout=0", "model.pooling=mean", "model.normalize=false",
            "tokenizer.max_query_length=32", "tokenizer.max_passage_length=128",
            "loss.name=MultipleNegativesRankingLoss", "loss.scale=20", "loss.hard_negatives=1",
            "optim.lr=%g" % a.lr, "optim.eps=1e-6", "optim.weight_decay=0.01", "optim.max_grad_norm=1.0",
            "schedule.name=warmup_linear", "schedule.warmup_steps=%d" % warmup,
            "train.batch_size=%d" % a.batch, "train.steps=%d" % a.steps, "train.seed=42",
            "train.threads=%d" % a.threads, "train.log_every_steps=1", "eval.every_steps=0",
            "eval.max_queries=%d" % a.max_queries, "checkpoint.every_steps=0", "checkpoint.keep_last=1",
            "checkpoint.dir=" + os.path.join(w, "checkpoints"), "output.dir=" + os.path.join(w, "runs"),
            "output.name=parity"]
    setargs = [x for s in sets for x in ("--set", s)]
    config = os.path.join(SRC, "configs", "quickstart.yaml")
    sh([driver, dump, config] + setargs + ["--eval-max-passages", str(a.eval_passages)])

    t0 = time.time()
    sh([bienc, "train", config] + setargs + ["--overwrite", "--no-progress", "--threads", str(a.threads),
                                             "--eval-passages", str(a.eval_passages)])
    t_bienc = time.time() - t0
    rows = [json.loads(l) for l in open(os.path.join(w, "runs", "parity", "metrics.jsonl"))]
    b_losses = [r["loss"] for r in rows if "loss" in r and "eval" not in r]
    evals = [r for r in rows if "eval" in r]
    ev = evals[-1]["eval"]
    b_mrr = float(next(v for k, v in ev.items() if k.lower() in ("mrr@10", "mrr10", "mrr_10")))
    b_mrr0 = float(next(v for k, v in evals[0]["eval"].items() if k.lower() in ("mrr@10", "mrr10", "mrr_10")))
    ckpt = os.path.join(w, "checkpoints", "parity", "step-%d.h5" % a.steps)

    t0 = time.time()
    batches = read_sides(os.path.join(dump, "batches.bin"))
    batches = list(zip(batches[0::2], batches[1::2]))
    assert len(batches) == a.steps, "driver wrote %d batches" % len(batches)
    model = load_model(os.path.join(dump, "init.h5"))
    qrels = read_qrels(os.path.join(data, "qrels.dev.tsv"))
    t_mrr0, nq, npass = mrr10(model, w, qrels)
    t_losses = train_torch(model, batches, a, warmup)
    t_torch = time.time() - t0
    t_mrr, _, _ = mrr10(model, w, qrels)
    check_mrr, _, _ = mrr10(load_model(ckpt), w, qrels)  # PyTorch's evaluation of bienc's final weights

    n = min(len(b_losses), len(t_losses))
    marks = sorted(set([0, 1, 2, 9, 49, 99, n // 2, n - 1]) & set(range(n)))
    lines = ["step | bienc loss | torch loss", "---|---|---"]
    lines += ["%d | %.5f | %.5f" % (i + 1, b_losses[i], t_losses[i]) for i in marks]
    last = slice(max(0, n - 50), n)
    diff = t_mrr - b_mrr
    summary = [
        "tiny bi-encoder (128 hidden, 2 layers, 2 heads, inter 512, vocab %d), MNRL + 1 hard negative, batch %d, "
        "%d steps, lr %g (warm-up %d, linear), dropout 0, %d threads" % (a.vocab_size, a.batch, a.steps, a.lr, warmup,
                                                                        a.threads),
        "dev eval: %d queries x %d passages (exact cosine, MRR@10)" % (nq, npass),
        "step-1 loss: bienc %.6f, torch %.6f (rel diff %.1e)" % (b_losses[0], t_losses[0],
                                                                  abs(b_losses[0] - t_losses[0]) / abs(t_losses[0])),
        "mean loss of the last 50 steps: bienc %.4f, torch %.4f" % (np.mean(b_losses[last]), np.mean(t_losses[last])),
        "MRR@10 untrained: bienc %.4f, torch eval of the same init %.4f" % (b_mrr0, t_mrr0),
        "torch's evaluation of bienc's final checkpoint: %.4f (bienc's own: %.4f)" % (check_mrr, b_mrr),
        "training time: bienc %.1f s (incl. 2 evaluations), torch %.1f s" % (t_bienc, t_torch),
        "MRR@10 after training: bienc %.4f, torch %.4f, difference %+.4f (limit 0.02): %s"
        % (b_mrr, t_mrr, diff, "PASS" if abs(diff) <= 0.02 else "FAIL"),
    ]
    print("\n".join(lines))
    print("\n".join(summary))
    if a.out:
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            f.write("# Quality parity: bienc vs PyTorch %s (eval/quality_parity.sh)\n\nRun %s UTC.\n\n"
                    % (torch.__version__, time.strftime("%Y-%m-%d %H:%M", time.gmtime())))
            f.write("\n".join("- " + s for s in summary) + "\n\n" + "\n".join(lines) + "\n")
        print("wrote " + a.out)
    return 0 if abs(diff) <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
