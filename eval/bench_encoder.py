#!/usr/bin/python3
"""Benchmark (not a test): one training step of the encoder at MiniLM-L6 size,
bienc vs PyTorch, side by side in the same run (issue 2, item 8).

Step = zero grads, forward of 32 sequences x 128 tokens (6 layers, hidden 384, 12 heads,
intermediate 1536, vocab 30522), mean pooling, backward of loss = sum(pooled). Dropout
is 0 on both sides (bienc does not apply attention-probability dropout yet, so
switching dropout on would only add work to PyTorch's side).

Each side runs in its own process (so peak RSS is its own: getrusage ru_maxrss), with
the same thread count and OPENBLAS_CORETYPE=SkylakeX for both (PyTorch's Debian build
uses the same OpenBLAS for its matmuls). The sgemm peak is OpenBLAS's own 2048^3
sgemm measured in the same run; MFU = achieved model GFLOP/s / that peak.

Two warm-up steps by default: bienc's tape merges its arena chunks after the first
step, so the second still touches fresh pages; PyTorch warms up its own caches too.
Wall-clock medians are the headline; CPU seconds per step (user + system, all threads)
are printed too because they are far less sensitive to other load on a shared machine.

usage: eval/bench_encoder.py [--build-dir DIR] [--threads 1,2] [--steps 5] [--warmup 2]
       (eval/bench_encoder.sh builds the driver and runs this under the heavy lock)
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def torch_child(threads, steps, warmup, batch, seq, mnrl_q):
    """Runs in a fresh interpreter: the PyTorch side, printing one JSON line."""
    import torch

    sys.path.insert(0, os.path.join(SRC, "tests", "torch"))
    import bert_ref

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    drop = 0.1 if mnrl_q else 0.0
    cfg = bert_ref.Cfg(hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536,
                       hidden_dropout=drop, attention_dropout=drop)
    model = bert_ref.Bert(cfg)
    for name, p in model.named_parameters():  # BERT init, as bienc's
        if "LayerNorm" in name:
            torch.nn.init.ones_(p) if name.endswith("weight") else torch.nn.init.zeros_(p)
        elif name.endswith("bias"):
            torch.nn.init.zeros_(p)
        else:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    ids = torch.randint(0, cfg.vocab_size, (batch, seq))
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    if mnrl_q:
        qids = torch.randint(0, cfg.vocab_size, (batch, mnrl_q))
        qtypes, qmask = torch.zeros_like(qids), torch.ones_like(qids)
        labels = torch.arange(batch)
        # sentence-transformers' fit(): AdamW(lr 2e-5, eps 1e-6, weight decay 0.01 except
        # bias / LayerNorm), clip_grad_norm_(1.0); as bienc's adamw defaults.
        decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=2e-5, eps=1e-6)
    times, fwd, cpu0 = [], 0.0, 0.0
    for s in range(warmup + steps):
        if s == warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        emb = bert_ref.pool(model(ids, types, mask), mask, "mean")
        if mnrl_q:
            q = bert_ref.pool(model(qids, qtypes, qmask), qmask, "mean")
            scores = 20.0 * torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(emb, dim=1).T
            loss = torch.nn.functional.cross_entropy(scores, labels)
            t1 = time.perf_counter()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        else:
            t1 = time.perf_counter()
            emb.sum().backward()
        t2 = time.perf_counter()
        if s >= warmup:
            times.append(t2 - t0)
            fwd += t1 - t0
    med = statistics.median(times)
    cpu = (time.process_time() - cpu0) / steps
    print(json.dumps({"impl": "torch", "threads": torch.get_num_threads(), "version": torch.__version__,
                      "step_s_median": med, "fwd_s_mean": fwd / steps, "steps_per_s": 1.0 / med,
                      "cpu_s_per_step": cpu,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--mnrl", type=int, default=0, metavar="Q",
                    help="real MNRL training step: B queries of Q tokens + B passages of --seq tokens, dropout 0.1, "
                         "AdamW (the issue's reference: Q=32, seq 128, ~8.3 pairs/s for PyTorch)")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    threads_list = [int(t) for t in a.threads.split(",")]
    if a.torch_child:
        torch_child(threads_list[0], a.steps, a.warmup, a.batch, a.seq, a.mnrl)
        return 0

    driver = os.path.join(a.build_dir, "tests", "torch_bench_encoder_driver")
    if not os.path.exists(driver):
        print("missing %s: build the target torch_bench_encoder_driver (eval/bench_encoder.sh does)" % driver)
        return 1
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "SkylakeX"))
    common = ["--steps", str(a.steps), "--warmup", str(a.warmup)]
    shape = ["--batch", str(a.batch), "--seq", str(a.seq), "--mnrl", str(a.mnrl)]
    what = ("MNRL training step (q %d + p %d tokens, dropout 0.1, AdamW)" % (a.mnrl, a.seq) if a.mnrl
            else "encoder step (fwd+bwd of sum(mean pool), %d tokens, dropout 0)" % a.seq)
    print("%s, MiniLM-L6 size, batch %d, OPENBLAS_CORETYPE=%s, median of %d steps after %d warm-up"
          % (what, a.batch, env["OPENBLAS_CORETYPE"], a.steps, a.warmup))
    rows = []
    for th in threads_list:
        tenv = dict(env, OMP_NUM_THREADS=str(th))
        peak = run_json([driver, "--sgemm", "2048", "--threads", str(th), "--steps", "5"], tenv)
        b = run_json([driver, "--threads", str(th)] + common + shape, tenv)
        t = run_json([sys.executable, os.path.abspath(__file__), "--torch-child", "--threads", str(th)] + common
                     + shape, tenv)
        flop = b["model_gflop_per_step"]
        row = {"threads": th, "sgemm_peak_gflops": peak["gflops"], "kernel": peak["kernel"],
               "bienc_steps_per_s": b["steps_per_s"], "torch_steps_per_s": t["steps_per_s"],
               "ratio": b["steps_per_s"] / t["steps_per_s"],
               "bienc_gflops": flop * b["steps_per_s"], "torch_gflops": flop * t["steps_per_s"],
               "bienc_mfu": flop * b["steps_per_s"] / peak["gflops"],
               "torch_mfu": flop * t["steps_per_s"] / peak["gflops"],
               "bienc_peak_rss_mb": b["peak_rss_mb"], "torch_peak_rss_mb": t["peak_rss_mb"],
               "bienc_fwd_s": b["fwd_s_mean"], "torch_fwd_s": t["fwd_s_mean"], "model_gflop_per_step": flop,
               "bienc_cpu_s_per_step": b["cpu_s_per_step"], "torch_cpu_s_per_step": t["cpu_s_per_step"]}
        rows.append(row)
        print("threads %d | sgemm peak %.0f GFLOP/s (%s) | model %.1f GFLOP/step" % (th, peak["gflops"],
                                                                                    peak["kernel"], flop))
        print("  bienc : %.3f steps/s (%.2f s/step, fwd %.2f s, %.2f CPU s)  %.1f GFLOP/s  MFU %.0f%%  peak RSS %.0f MB"
              % (b["steps_per_s"], 1 / b["steps_per_s"], b["fwd_s_mean"], b["cpu_s_per_step"], row["bienc_gflops"],
                 100 * row["bienc_mfu"], b["peak_rss_mb"]))
        print("  torch : %.3f steps/s (%.2f s/step, fwd %.2f s, %.2f CPU s)  %.1f GFLOP/s  MFU %.0f%%  peak RSS %.0f MB"
              "  (torch %s)" % (t["steps_per_s"], 1 / t["steps_per_s"], t["fwd_s_mean"], t["cpu_s_per_step"],
                               row["torch_gflops"], 100 * row["torch_mfu"], t["peak_rss_mb"], t["version"]))
        print("  ratio bienc/torch: %.2fx steps/s (%.2fx in CPU seconds), %.2fx peak RSS"
              % (row["ratio"], t["cpu_s_per_step"] / b["cpu_s_per_step"], b["peak_rss_mb"] / t["peak_rss_mb"]))
        if a.mnrl:
            print("  pairs/s: bienc %.2f, torch %.2f" % (a.batch * b["steps_per_s"], a.batch * t["steps_per_s"]))
        sys.stdout.flush()
    print("json: " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
