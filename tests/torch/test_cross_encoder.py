#!/usr/bin/python3
"""Cross-encoder parity with PyTorch: BertForSequenceClassification (num_labels = 1) rebuilt
on tests/torch/bert_ref.py's encoder + BertPooler (dense + tanh on [CLS]) + classifier, run on
the same pairs (padded batch with token_type_ids) with the C side's parameters; logits, the
BCE-with-logits loss and EVERY parameter gradient must match. Driver: tests/torch/cross_driver.c."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_ref import Bert, Cfg, read_records  # noqa: E402
from parity_io import driver_path, rel_err  # noqa: E402


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)


class CrossEncoder(nn.Module):
    """HF BertForSequenceClassification's module tree: bert.* is flattened into the root here,
    matching bienc's names (embeddings.*, encoder.*, pooler.dense.*, classifier.*)."""

    def __init__(self, c):
        super().__init__()
        self.bert = Bert(c)
        self.pooler = Pooler(c)
        self.classifier = nn.Linear(c.hidden_size, 1)

    def forward(self, ids, type_ids, mask):
        h = self.bert(ids, type_ids, mask)
        pooled = torch.tanh(self.pooler.dense(h[:, 0]))
        return self.classifier(pooled)


def main():
    exe = driver_path("cross_driver")
    torch.set_default_dtype(torch.float64)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed, listwise in ((5, False), (17, False), (5, True), (23, True)):
            out = os.path.join(tmp, f"cross{seed}{listwise}.bin")
            env = dict(os.environ)
            env.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
            r = subprocess.run([exe, out, "--seed", str(seed)] + (["--listwise"] if listwise else []),
                               capture_output=True, text=True, env=env)
            assert r.returncode == 0, r.stderr
            rec = read_records(out)
            c = Cfg(vocab_size=37, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                    max_position_embeddings=24)
            m = CrossEncoder(c)
            sd = {}
            for k in m.state_dict():
                name = k[5:] if k.startswith("bert.") else k
                assert name in rec, f"the driver wrote no parameter {name}"
                sd[k] = torch.tensor(rec[name].astype(np.float64))
            n_params = sum(1 for k in rec if not k.startswith("grad.") and k not in
                           ("ids", "type_ids", "offsets", "labels", "logits", "loss"))
            assert n_params == len(sd), (n_params, len(sd))
            m.load_state_dict(sd)
            offs = rec["offsets"].astype(np.int64)
            n, L = len(offs) - 1, int(np.max(np.diff(offs)))
            ids = torch.zeros(n, L, dtype=torch.long)
            types = torch.zeros(n, L, dtype=torch.long)
            mask = torch.zeros(n, L, dtype=torch.long)
            for i in range(n):
                a, b = offs[i], offs[i + 1]
                ids[i, : b - a] = torch.tensor(rec["ids"][a:b].astype(np.int64))
                types[i, : b - a] = torch.tensor(rec["type_ids"][a:b].astype(np.int64))
                mask[i, : b - a] = 1
            assert types.sum() > 0, "no passage tokens have token type 1"
            logits = m(ids, types, mask)
            labels = torch.tensor(rec["labels"].astype(np.float64)).reshape(n, 1)
            if listwise:
                groups = 2.5 * logits.reshape(n // 2, 2)
                loss = nn.functional.cross_entropy(groups, torch.zeros(n // 2, dtype=torch.long))
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            e = rel_err(rec["logits"], logits.detach().numpy())
            assert e < 1e-4, f"seed {seed}: logits rel err {e}"
            e2 = abs(float(rec["loss"][0]) - loss.item()) / max(abs(loss.item()), 1e-30)
            assert e2 < 1e-4, f"seed {seed}: loss rel err {e2}"
            worst = max(worst, e, e2)
            # errors relative to each gradient's scale, floored at 1e-3 of the largest gradient:
            # the key bias's true gradient is 0 (softmax ignores a shift), so float noise there
            # is compared with the model's gradient scale, not with 0
            gscale = max(float(p.grad.abs().max()) for p in m.parameters())
            for k, p in m.named_parameters():
                name = k[5:] if k.startswith("bert.") else k
                g = rec["grad." + name].astype(np.float64)
                ref = p.grad.numpy()
                e = float(np.max(np.abs(g - ref))) / max(float(np.max(np.abs(ref))), 1e-3 * gscale)
                assert e < 2e-3, f"seed {seed}: grad {name} rel err {e}"
                worst = max(worst, e)
            print(f"seed {seed} {'listwise' if listwise else 'bce'}: logits {rec['logits'].ravel()} loss {float(rec['loss'][0]):.6f} ok")
    print(f"cross-encoder parity: worst relative error {worst:.2e}")


if __name__ == "__main__":
    main()
