#!/usr/bin/python3
"""Benchmark (not a test): a full bi-encoder training step at MiniLM-L6 size, bienc vs
PyTorch, side by side in the same run (issue 4, item 8).

Model: 6 layers, hidden 384, 12 heads, intermediate 1536, vocab 30522, dropout 0.1 (as
MiniLM / BERT train), mean pooling. Batch: B queries of 32 tokens and B passages of 128
tokens (triplet: B positives + B negatives). Step = zero grads, forward of both towers
(one shared encoder), loss, backward, gradient clipping at 1.0 and an AdamW step (no decay
on bias / LayerNorm), i.e. what sentence-transformers' fit() does:
  mnrl    MultipleNegativesRankingLoss (scale 20, cosine, in-batch negatives): pairs/s
  triplet TripletLoss (euclidean distance, margin 5): triplets/s
PyTorch side: tests/torch/bert_ref.py (BertModel's module tree), one forward call per
text column as sentence-transformers does (bienc packs positives and negatives into one
batch, as `bienc train` does).

Fairness: each side runs in its own process (peak RSS = getrusage ru_maxrss of that
process), with the same thread count and OPENBLAS_CORETYPE=SkylakeX for both (Debian's
PyTorch does its matmuls with the same OpenBLAS). MFU = model FLOPs per step
(3 x encoder_forward_flops of both towers) x steps/s / OpenBLAS's own 2048^3 sgemm GFLOP/s,
measured by the driver in the same lock slot as that configuration.

eval/bench_train.sh runs the whole benchmark while holding /tmp/bienc-heavy.lock (flock),
so other heavy jobs do not overlap it; the sgemm peak is re-measured before each
configuration (same conditions). Figures are medians over --steps steps after --warmup
warm-up steps (bienc's tape arena and PyTorch's allocator settle in
the first steps). Wall-clock medians are the headline; CPU seconds per step (all threads) are printed too,
with the speed ratio and MFU in CPU seconds: on a shared, loaded machine those move far
less with other processes than wall-clock figures.

usage: eval/bench_train.sh [--configs mnrl:32,mnrl:64,triplet:32,triplet:64] [--threads 2]
                           [--steps 3] [--warmup 2] [--out eval/results/bench_train.md] [--bf16]
--bf16 (issue 12) adds, for each configuration in the same lock slot, bienc with
train.precision bf16 and PyTorch under torch.autocast("cpu", dtype=torch.bfloat16), and
bienc's bf16 GEMM 2048^3 peak for their MFU; a second table compares the four.
       (the .sh builds torch_bench_train_driver in $BUILD_DIR, default build/, then runs this)
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

# PyTorch 1.13 figures measured before on this machine (issue 4) and the targets.
REFERENCE = {("mnrl", 32): (8.3, 2500), ("mnrl", 64): (6.8, 4400), ("triplet", 32): (4.8, 4100)}
TARGET_SPEED, TARGET_MFU, TARGET_MEM = 1.5, 0.45, 0.7


def torch_child(a):
    """Runs in a fresh interpreter: the PyTorch side, printing one JSON line."""
    import torch

    sys.path.insert(0, os.path.join(SRC, "tests", "torch"))
    import bert_ref

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = bert_ref.Cfg(hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536,
                       hidden_dropout=a.dropout, attention_dropout=a.dropout)
    model = bert_ref.Bert(cfg)
    for name, p in model.named_parameters():  # BERT init, as bienc's
        if "LayerNorm" in name:
            torch.nn.init.ones_(p) if name.endswith("weight") else torch.nn.init.zeros_(p)
        elif name.endswith("bias"):
            torch.nn.init.zeros_(p)
        else:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    B = a.batch

    def column(L):
        ids = torch.randint(0, cfg.vocab_size, (B, L))
        return ids, torch.zeros_like(ids), torch.ones_like(ids)

    cols = [column(a.qlen), column(a.plen)] + ([column(a.plen)] if a.loss == "triplet" else [])
    labels = torch.arange(B)
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=2e-5, eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    times, fwd, cpu0 = [], 0.0, 0.0
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast):
            reps = [bert_ref.pool(model(ids, types, mask), mask, "mean").float() for ids, types, mask in cols]
        if a.loss == "mnrl":
            q, d = torch.nn.functional.normalize(reps[0], dim=1), torch.nn.functional.normalize(reps[1], dim=1)
            loss = torch.nn.functional.cross_entropy(20.0 * q @ d.T, labels)
        else:
            dp = torch.nn.functional.pairwise_distance(reps[0], reps[1])
            dn = torch.nn.functional.pairwise_distance(reps[0], reps[2])
            loss = torch.relu(dp - dn + 5.0).mean()
        t1 = time.perf_counter()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        t2 = time.perf_counter()
        if s >= a.warmup:
            times.append(t2 - t0)
            fwd += t1 - t0
    med = statistics.median(times)
    print(json.dumps({"impl": "torch", "threads": torch.get_num_threads(), "version": torch.__version__,
                      "step_s_median": med, "fwd_s_mean": fwd / a.steps, "steps_per_s": 1.0 / med,
                      "cpu_s_per_step": (time.process_time() - cpu0) / a.steps,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_config(a, driver, env, loss, B):
    common = ["--threads", str(a.threads), "--steps", str(a.steps), "--warmup", str(a.warmup), "--batch", str(B),
              "--qlen", str(a.qlen), "--plen", str(a.plen), "--loss", loss, "--dropout", str(a.dropout)]
    peak = run_json([driver, "--sgemm", "2048", "--threads", str(a.threads), "--steps", "5"], env)
    b = run_json([driver] + common, env)
    t = run_json([sys.executable, os.path.abspath(__file__), "--torch-child"] + common, env)
    flop = b["model_gflop_per_step"]
    extra = {}
    if a.bf16:  # issue 12: bienc bf16 and PyTorch autocast bf16, in the same run; MFU against the bf16 GEMM peak
        peak16 = run_json([driver, "--sgemm", "2048", "--threads", str(a.threads), "--steps", "5", "--precision", "bf16"],
                          env)
        b16 = run_json([driver] + common + ["--precision", "bf16"], env)
        t16 = run_json([sys.executable, os.path.abspath(__file__), "--torch-child", "--autocast"] + common, env)
        extra = {"bf16_peak_gflops": peak16["gflops"], "bf16_kernel": peak16["kernel"],
                 "bienc_bf16_per_s": B * b16["steps_per_s"], "torch_bf16_per_s": B * t16["steps_per_s"],
                 "bienc_bf16_cpu_s": b16["cpu_s_per_step"], "torch_bf16_cpu_s": t16["cpu_s_per_step"],
                 "bienc_bf16_mfu": flop * b16["steps_per_s"] / peak16["gflops"],
                 "bienc_bf16_rss_mb": b16["peak_rss_mb"], "torch_bf16_rss_mb": t16["peak_rss_mb"]}
    return {**extra, "loss": loss, "batch": B, "threads": a.threads, "kernel": peak["kernel"],
            "sgemm_peak_gflops": peak["gflops"], "model_gflop_per_step": flop,
            "bienc_per_s": B * b["steps_per_s"], "torch_per_s": B * t["steps_per_s"],
            "speed_ratio": b["steps_per_s"] / t["steps_per_s"],
            "bienc_step_s": b["step_s_median"], "torch_step_s": t["step_s_median"],
            "bienc_fwd_s": b["fwd_s_mean"], "torch_fwd_s": t["fwd_s_mean"],
            "bienc_cpu_s": b["cpu_s_per_step"], "torch_cpu_s": t["cpu_s_per_step"],
            "bienc_gflops": flop * b["steps_per_s"], "torch_gflops": flop * t["steps_per_s"],
            "bienc_mfu": flop * b["steps_per_s"] / peak["gflops"], "torch_mfu": flop * t["steps_per_s"] / peak["gflops"],
            "sgemm_gflops_per_cpu_s": peak["gflops_per_cpu_s"],
            "bienc_mfu_cpu": flop / b["cpu_s_per_step"] / peak["gflops_per_cpu_s"],
            "torch_mfu_cpu": flop / t["cpu_s_per_step"] / peak["gflops_per_cpu_s"],
            "bienc_rss_mb": b["peak_rss_mb"], "torch_rss_mb": t["peak_rss_mb"],
            "rss_ratio": b["peak_rss_mb"] / t["peak_rss_mb"], "torch_version": t["version"]}


def table(rows, a):
    unit = {"mnrl": "pairs/s", "triplet": "triplets/s"}
    lines = ["| loss | B | bienc /s | torch /s | speed x | bienc MFU | torch MFU | sgemm GFLOP/s | bienc RSS MB | "
             "torch RSS MB | RSS x | bienc CPU s/step | torch CPU s/step | CPU x | MFU (CPU) bienc | MFU (CPU) torch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s (%s) | %d | %.2f | %.2f | %.2f | %.0f%% | %.0f%% | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f "
                     "| %.0f%% | %.0f%% |"
                     % (r["loss"], unit[r["loss"]], r["batch"], r["bienc_per_s"], r["torch_per_s"], r["speed_ratio"],
                        100 * r["bienc_mfu"], 100 * r["torch_mfu"], r["sgemm_peak_gflops"], r["bienc_rss_mb"],
                        r["torch_rss_mb"], r["rss_ratio"], r["bienc_cpu_s"], r["torch_cpu_s"],
                        r["torch_cpu_s"] / r["bienc_cpu_s"], 100 * r["bienc_mfu_cpu"], 100 * r["torch_mfu_cpu"]))
    return "\n".join(lines)


def table_bf16(rows):
    lines = ["| loss | B | bienc fp32 /s | bienc bf16 /s | torch fp32 /s | torch bf16 /s | bf16 / bienc fp32 | "
             "bf16 / best torch | bienc bf16 MFU (bf16 peak) | RSS MB bienc fp32 / bf16 / torch bf16 | "
             "CPU s/step bienc fp32 / bf16 / torch fp32 / bf16 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "bienc_bf16_per_s" not in r:
            continue
        best = max(r["torch_per_s"], r["torch_bf16_per_s"])
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.0f%% of %.0f GFLOP/s | %.0f / %.0f / %.0f "
                     "| %.2f / %.2f / %.2f / %.2f |"
                     % (r["loss"], r["batch"], r["bienc_per_s"], r["bienc_bf16_per_s"], r["torch_per_s"],
                        r["torch_bf16_per_s"], r["bienc_bf16_per_s"] / r["bienc_per_s"], r["bienc_bf16_per_s"] / best,
                        100 * r["bienc_bf16_mfu"], r["bf16_peak_gflops"], r["bienc_rss_mb"], r["bienc_bf16_rss_mb"],
                        r["torch_bf16_rss_mb"], r["bienc_cpu_s"], r["bienc_bf16_cpu_s"], r["torch_cpu_s"],
                        r["torch_bf16_cpu_s"]))
    return "\n".join(lines) if len(lines) > 2 else ""


def verdicts(rows):
    out = []
    for r in rows:
        ok = lambda c: "ok" if c else "MISSED"
        out.append("- %s B=%d: speed %.2fx (target >= %.1fx: %s; in CPU seconds %.2fx), MFU %.0f%% (target >= %.0f%%: %s; "
                   "in CPU seconds %.0f%%), peak RSS %.2fx (target <= %.1fx: %s)"
                   % (r["loss"], r["batch"], r["speed_ratio"], TARGET_SPEED, ok(r["speed_ratio"] >= TARGET_SPEED),
                      r["torch_cpu_s"] / r["bienc_cpu_s"], 100 * r["bienc_mfu"], 100 * TARGET_MFU,
                      ok(r["bienc_mfu"] >= TARGET_MFU), 100 * r["bienc_mfu_cpu"], r["rss_ratio"],
                      TARGET_MEM, ok(r["rss_ratio"] <= TARGET_MEM)))
        ref = REFERENCE.get((r["loss"], r["batch"]))
        if ref:
            out.append("  (PyTorch measured earlier by others: %.1f /s, %.1f GB; this run: %.2f /s, %.1f GB)"
                       % (ref[0], ref[1] / 1000, r["torch_per_s"], r["torch_rss_mb"] / 1000))
    return "\n".join(out)


def write_md(path, rows, head):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# Training benchmark: bienc vs PyTorch %s (eval/bench_train.sh)\n\n" % rows[0]["torch_version"])
        f.write("Run %s UTC. %s.\n\n" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), head))
        f.write("/s = training pairs/s (MNRL) or triplets/s (TripletLoss); speed x = bienc / PyTorch; MFU = model "
                "FLOPs (3 x forward of both towers) per second / OpenBLAS sgemm 2048^3 peak of the same run; "
                "RSS = peak resident set of each process. CPU x = PyTorch's CPU seconds per step / bienc's; MFU (CPU) = "
                "model FLOPs per CPU second / sgemm FLOPs per CPU second (both hardly moved by other load on the "
                "machine).\n\n")
        bf = table_bf16(rows)
        if bf:
            bf = "bf16 (`--bf16`): bienc `--precision bf16` and PyTorch under torch.autocast(\"cpu\", bfloat16); " \
                 "MFU against bienc's bf16 GEMM 2048^3 peak of the same run.\n\n" + bf + "\n\n"
        f.write(table(rows, None) + "\n\n" + bf + verdicts(rows) + "\n\n```json\n" + json.dumps(rows, indent=1)
                + "\n```\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--configs", default="mnrl:32,mnrl:64,triplet:32,triplet:64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--qlen", type=int, default=32)
    ap.add_argument("--plen", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--loss", default="mnrl")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_train.md"))
    ap.add_argument("--note", default="", help="a line added to the results file (conditions of the run)")
    ap.add_argument("--bf16", action="store_true",
                    help="also bienc --precision bf16 and PyTorch autocast bf16 (issue 12), with the bf16 GEMM peak")
    ap.add_argument("--autocast", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        torch_child(a)
        return 0
    driver = os.path.join(a.build_dir, "tests", "torch_bench_train_driver")
    if not os.path.exists(driver):
        print("missing %s: build the target torch_bench_train_driver (eval/bench_train.sh does)" % driver)
        return 1
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "SkylakeX"),
               OMP_NUM_THREADS=str(a.threads))
    head = ("bi-encoder training step at MiniLM-L6 size (6x384, 12 heads, inter 1536, vocab 30522), queries %d + "
            "passages %d tokens, dropout %g, AdamW; %d threads, OPENBLAS_CORETYPE=%s; median of %d steps after %d warm-up"
            % (a.qlen, a.plen, a.dropout, a.threads, env["OPENBLAS_CORETYPE"], a.steps, a.warmup))
    if a.note:
        head += ". " + a.note
    print(head)
    rows = []
    for c in a.configs.split(","):
        loss, B = c.split(":")
        r = bench_config(a, driver, env, loss, int(B))
        rows.append(r)
        print("%-7s B=%-3d bienc %6.2f/s  torch %6.2f/s  x%.2f | MFU bienc %3.0f%% torch %3.0f%% (sgemm %.0f GFLOP/s, "
              "%.0f GFLOP/step) | RSS bienc %5.0f MB torch %5.0f MB (x%.2f) | CPU s/step %.2f vs %.2f"
              % (loss, r["batch"], r["bienc_per_s"], r["torch_per_s"], r["speed_ratio"], 100 * r["bienc_mfu"],
                 100 * r["torch_mfu"], r["sgemm_peak_gflops"], r["model_gflop_per_step"], r["bienc_rss_mb"],
                 r["torch_rss_mb"], r["rss_ratio"], r["bienc_cpu_s"], r["torch_cpu_s"]))
        sys.stdout.flush()
        if a.out:  # after every configuration, so an interrupted run keeps what it measured
            write_md(a.out, rows, head)
    print()
    print(table(rows, a))
    if table_bf16(rows):
        print(table_bf16(rows))
    print(verdicts(rows))
    print("json: " + json.dumps(rows))
    if a.out:
        print("wrote " + a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
