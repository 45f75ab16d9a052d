"""AdamW + LambdaLR schedules + clip_grad_norm_ + gradient accumulation against PyTorch.

The same named parameters and the same gradient sequence go through bienc
(torch_optim_driver) and through torch.optim.AdamW with Hugging Face's schedule
lambdas and sentence-transformers' no-decay groups; the parameters after every
optimiser step must agree to ~1e-6 relative."""
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOL = 2e-6

build = os.environ.get("BIENC_BUILD_DIR", "build")
DRIVER = os.environ.get("BIENC_OPTIM_DRIVER") or os.path.join(build, "tests", "torch_optim_driver")
if not os.path.exists(DRIVER):
    print(f"test_optim: driver not found at {DRIVER} (build target torch_optim_driver)")
    sys.exit(1)

SCHED = {"warmup_linear": 0, "constant": 1, "cosine": 2}


def hf_lambda(kind, warmup, total):
    """transformers.optimization's lambdas (num_cycles 0.5)."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        if kind == "constant":
            return 1.0
        if kind == "warmup_linear":
            return max(0.0, float(total - step) / float(max(1, total - warmup)))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    return f


def run_case(name, kind, steps, warmup, total, accum, lr, wd, betas, eps, max_norm, grad_scale, seed):
    rng = np.random.default_rng(seed)
    shapes = [("encoder.layer.0.attention.self.query.weight", 48 * 40),
              ("encoder.layer.0.attention.self.query.bias", 40),
              ("encoder.layer.0.output.LayerNorm.weight", 40),
              ("embeddings.word_embeddings.weight", 70000)]  # large: exercises the chunked norm
    init = [rng.standard_normal(n).astype(np.float32) for _, n in shapes]
    grads = [[(rng.standard_normal(n) * grad_scale).astype(np.float32) for _, n in shapes]
             for _ in range(steps * accum)]

    with tempfile.TemporaryDirectory() as d:
        fin, fout = os.path.join(d, "in.bin"), os.path.join(d, "out.bin")
        with open(fin, "wb") as f:
            f.write(struct.pack("<6i", len(shapes), steps, accum, SCHED[kind], warmup, total))
            f.write(struct.pack("<6d", lr, wd, betas[0], betas[1], eps, max_norm))
            for (pname, n), x in zip(shapes, init):
                b = pname.encode()
                f.write(struct.pack("<i", len(b)) + b + struct.pack("<q", n))
                f.write(x.tobytes())
            for gs in grads:
                for g in gs:
                    f.write(g.tobytes())
        subprocess.run([DRIVER, fin, fout], check=True)
        out = open(fout, "rb").read()

    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    named = list(zip([n for n, _ in shapes], params))
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
    groups = [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": wd},
              {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(kind, warmup, total))

    worst = worst_upd = 0.0
    off = 0
    numel = sum(n for _, n in shapes)
    for step in range(steps):
        # as HF / sentence-transformers with accumulation: loss / k per micro-batch
        for p in params:
            p.grad = None
        for k in range(accum):
            for p, g in zip(params, grads[step * accum + k]):
                gt = torch.from_numpy(g) / accum
                p.grad = gt.clone() if p.grad is None else p.grad + gt
        want_lr = opt.param_groups[0]["lr"]
        if max_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        else:
            norm = float(torch.norm(torch.stack([torch.norm(p.grad) for p in params])))
        opt.step()
        sched.step()
        got_lr, got_norm = struct.unpack_from("<2d", out, off)
        off += 16
        mine = np.frombuffer(out, dtype=np.float32, count=numel, offset=off)
        off += 4 * numel
        if abs(got_lr - want_lr) > 1e-12 * max(1.0, abs(want_lr)):
            raise AssertionError(f"{name} step {step + 1}: lr {got_lr} != torch {want_lr}")
        if abs(got_norm - norm) > 1e-5 * norm:
            raise AssertionError(f"{name} step {step + 1}: grad norm {got_norm} != torch {norm}")
        ref = np.concatenate([p.detach().numpy() for p in params])
        rel = float(np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1e-2)))
        moved = float(np.max(np.abs(ref - np.concatenate(init))))
        # the error against the size of the updates themselves (stricter than against params)
        upd = float(np.max(np.abs(mine - ref))) / moved if moved > 0 else float(np.max(np.abs(mine - ref)))
        worst = max(worst, rel)
        worst_upd = max(worst_upd, upd)
        if rel > TOL or upd > 3e-4:
            raise AssertionError(f"{name} step {step + 1}: max rel error {rel:.3g} > {TOL} "
                                 f"or {upd:.3g} of the update > 3e-4")
    print(f"{name:<34} steps {steps} accum {accum}: max rel error {worst:.3g} "
          f"(max error / max update {worst_upd:.3g}; lr at last step {want_lr:.3g}, params moved up to {moved:.3g})")
    return worst


cases = [
    # name, kind, steps, warmup, total, accum, lr, wd, betas, eps, max_norm, grad_scale, seed
    ("warmup_linear+clip", "warmup_linear", 5, 2, 6, 1, 1e-2, 0.01, (0.9, 0.999), 1e-6, 1.0, 1.0, 1),
    ("cosine+accum2+clip", "cosine", 4, 1, 4, 2, 5e-3, 0.1, (0.9, 0.98), 1e-8, 1.0, 0.5, 2),
    ("constant+accum3+noclip+wd", "constant", 4, 0, 0, 3, 1e-3, 0.5, (0.8, 0.99), 1e-6, 0.0, 1e-3, 3),
    ("constant-warmup+clip-inactive", "constant", 3, 2, 0, 1, 2e-2, 0.01, (0.9, 0.999), 1e-6, 1e4, 1.0, 4),
]
worst = max(run_case(*c) for c in cases)
print(f"test_optim: all cases pass, max rel error {worst:.3g} (tolerance {TOL})")
