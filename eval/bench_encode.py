"""Encoding throughput, bienc (fp32, bf16, int8) vs PyTorch (fp32, bf16 autocast, int8 dynamic
quantisation) vs ONNX Runtime,
at MiniLM-L6 size (random weights, vocab 30522).

Subcommands (eval/bench_encode.sh runs them in order, each timed run under the heavy lock):
  prep    make the model (a sentence-transformers folder written here, `bienc import`ed, and
          `bienc export --format onnx`ed for ONNX Runtime),
          pick the texts from MS MARCO passages tokenised by bienc:
            var   : N passages of 16..128 tokens (with [CLS]/[SEP]), in collection order
            fixed : N texts of >= 128 tokens (consecutive passages joined), truncated to 128
  torch   one PyTorch run: the plain BERT of tests/torch/bert_ref.py (same module tree as
          HF BertModel, eager attention as transformers uses with this torch), texts sorted
          by length (as SentenceTransformer.encode), batches of 64 padded to their longest
          text, attention mask, mean pooling + normalisation. The timed part starts AFTER the
          model is loaded and the texts tokenised (ids are given): generous to PyTorch.
          Prints one JSON line: texts/s, peak RSS of the process.
          --bf16 (system pytorch_bf16, issue 12): the same model, weights and batches under
          torch.autocast("cpu", dtype=torch.bfloat16) in torch.inference_mode(). What runs on
          the development CPU (AVX512_BF16, no AMX; Debian's torch 1.13 with oneDNN 2.6.3,
          checked with ONEDNN_VERBOSE=1 on a tiny run): every nn.Linear and both attention
          products are oneDNN matmuls "brg:avx512_core_bf16" with bf16 src/weights/dst (fp32
          accumulation inside, the output rounded to bf16), GELU is oneDNN's bf16 eltwise
          "jit:avx512_core_bf16", LayerNorm and softmax run in fp32 (autocast's fp32 list, and
          the fp32 mask promotes the scores). On a CPU with AMX oneDNN would pick
          "brg:avx512_core_amx_bf16" for the same calls. No nn.TransformerEncoder fast path:
          the model is BertModel's module tree, not nn.TransformerEncoderLayer, and in torch
          1.13 the fast path does not apply under CPU autocast anyway: its guard tests
          torch.is_autocast_enabled(), which is False under CPU autocast, so it is taken and
          torch._transformer_encoder_layer_fwd fails with "expected scalar type BFloat16 but
          found Float" (checked on this torch with a 1-layer nn.TransformerEncoder).
          --int8 (system pytorch_int8): the same model after
          torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8), the
          PyTorch peer of `bienc encode --precision int8`: every nn.Linear on int8 weights
          (per tensor) and activations quantised on the fly (per tensor, u8), oneDNN's int8
          kernels (Debian's torch has no fbgemm: its quantized engine is "onednn"); attention
          products stay fp32.
  ort     one ONNX Runtime run (eval/ort_run.js in node, onnxruntime-node): the same ids,
          longest first, batches of 64 padded to their longest text; session with graph
          optimisation "all", --threads intra-op threads; timed: the session.run calls only
          (model loaded, ids given, as for PyTorch). One JSON line, like `torch`.
  report  medians over the repeats, the ratios, peak memory; checks that every system's
          embeddings agree with bienc fp32's (so all compute the same thing; bf16 is off by
          its rounding).
bienc's figure is end-to-end `bienc encode` (process start to exit: model load,
tokenisation, encoding, writing the HDF5 output), also a disadvantage to bienc; its
"encode phase" (the texts/s bienc prints for the encoding itself) is the figure to set
against PyTorch's and ONNX Runtime's, which time the model calls only. The ratio rows give
both.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "torch"))
import hf_folder  # noqa: E402

MINILM = dict(hidden=384, layers=6, heads=12, inter=1536, max_pos=512, vocab_size=30522)


def prep(a):
    os.makedirs(a.out, exist_ok=True)
    shared = a.shared
    vocab_path, vocab = hf_folder.tokenizer_source(shared)
    if vocab_path is None or len(vocab) != 30522:
        sys.exit("bench_encode: needs %s/bert-base-uncased/vocab.txt" % shared)
    cfg = hf_folder.config_json(**MINILM)
    folder = os.path.join(a.out, "minilm_st")
    hf_folder.make_folder(folder, cfg, hf_folder.random_params(cfg, seed=1), vocab, normalize=True,
                          max_seq_length=128)
    subprocess.run([a.bin, "import", "--from", folder, "--output", os.path.join(a.out, "model.h5")], check=True,
                   stdout=subprocess.DEVNULL)
    coll = os.path.join(shared, "msmarco-dl19", "collection.tsv")
    pids, texts = [], []
    with open(coll, encoding="utf-8") as f:
        for line in f:
            p, _, t = line.rstrip("\n").partition("\t")
            t = t.replace("\r", " ")
            if t.strip():
                pids.append(p)
                texts.append(t)
    tok = subprocess.run([a.bin, "tokenize", "--vocab", vocab_path], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, check=True)
    ids = [[int(x) for x in l.split()] for l in tok.stdout.split("\n")[:len(texts)]]
    assert len(ids) == len(texts)
    var = [i for i in range(len(texts)) if 16 <= len(ids[i]) <= 128][:a.n]
    if len(var) < a.n:
        sys.exit("bench_encode: only %d passages of 16..128 tokens" % len(var))
    # fixed 128: join consecutive passages until a text has >= 128 tokens, truncate to 128
    fixed_texts, fixed_ids, j = [], [], 0
    while len(fixed_texts) < a.n:
        parts, n_tok = [], 2
        while n_tok < 128:
            parts.append(texts[j % len(texts)])
            n_tok += len(ids[j % len(texts)]) - 2
            j += 1
        fixed_texts.append(" ".join(parts))
    tok = subprocess.run([a.bin, "tokenize", "--vocab", vocab_path, "--max-length", "128"],
                         input="\n".join(fixed_texts) + "\n", capture_output=True, text=True, check=True)
    fixed_ids = [[int(x) for x in l.split()] for l in tok.stdout.split("\n")[:len(fixed_texts)]]
    assert all(len(x) == 128 for x in fixed_ids), "fixed texts are not all 128 tokens"
    subprocess.run([a.bin, "export", "--model", os.path.join(a.out, "model.h5"), "--format", "onnx", "--output",
                    os.path.join(a.out, "onnx")], check=True, stdout=subprocess.DEVNULL)
    sets = {"var": ([pids[i] for i in var], [texts[i] for i in var], [ids[i] for i in var]),
            "fixed": (["f%d" % i for i in range(a.n)], fixed_texts, fixed_ids)}
    for name, (p, t, x) in sets.items():
        with open(os.path.join(a.out, name + ".tsv"), "w", encoding="utf-8") as f:
            for pi, ti in zip(p, t):
                f.write("%s\t%s\n" % (pi, ti))
        with open(os.path.join(a.out, name + ".ids.json"), "w") as f:
            json.dump(x, f)
        with open(os.path.join(a.out, name + ".ort.json"), "w") as f:
            json.dump({"ids": x}, f)
        lens = [len(v) for v in x]
        print("%s: %d texts, tokens per text min %d mean %.1f max %d" % (name, len(x), min(lens), np.mean(lens), max(lens)))


def run_torch(a):
    import torch
    import bert_ref
    torch.set_num_threads(a.threads)
    folder = os.path.join(a.out, "minilm_st")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    c = bert_ref.Cfg(vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], num_layers=cfg["num_hidden_layers"],
                     num_heads=cfg["num_attention_heads"], intermediate_size=cfg["intermediate_size"],
                     max_position_embeddings=cfg["max_position_embeddings"], type_vocab_size=cfg["type_vocab_size"],
                     layer_norm_eps=cfg["layer_norm_eps"], activation=cfg["hidden_act"])
    model = bert_ref.Bert(c).eval()  # fp32 weights; under autocast each matmul casts them to bf16
    sd, _ = hf_folder.read_safetensors(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    del sd
    if a.int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    ids = json.load(open(os.path.join(a.out, a.set + ".ids.json")))
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # SentenceTransformer.encode: longest first
    out = np.zeros((len(ids), c.hidden_size), np.float32)
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        for s in range(0, len(order), a.batch_size):
            idx = order[s:s + a.batch_size]
            L = max(len(ids[i]) for i in idx)
            x = torch.zeros(len(idx), L, dtype=torch.long)
            m = torch.zeros(len(idx), L, dtype=torch.long)
            for r, i in enumerate(idx):
                x[r, :len(ids[i])] = torch.tensor(ids[i])
                m[r, :len(ids[i])] = 1
            h = model(x, torch.zeros_like(x), m)
            e = torch.nn.functional.normalize(bert_ref.pool(h.float(), m, "mean"), dim=-1)
            out[idx] = e.float().numpy()
    dt = time.perf_counter() - t0
    name = "pytorch_bf16" if a.bf16 else "pytorch_int8" if a.int8 else "pytorch"
    np.save(os.path.join(a.out, "%s_%s.npy" % (name, a.set)), out[:200])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"system": name, "set": a.set, "texts": len(ids), "seconds": dt, "texts_per_s": len(ids) / dt,
                      "peak_rss_mb": rss, "threads": a.threads, "torch": torch.__version__}))


def run_ort(a):
    res = os.path.join(a.out, "ort_%s.json" % a.set)
    subprocess.run(["node", os.path.join(SRC, "eval", "ort_run.js"), "--ort", a.ort, "--model",
                    os.path.join(a.out, "onnx", "model.onnx"), "--input", os.path.join(a.out, a.set + ".ort.json"),
                    "--output", res, "--threads", str(a.threads), "--batch-size", str(a.batch_size), "--sort"],
                   check=True)
    o = json.load(open(res))
    e = np.array(o["sentence_embedding"], dtype=np.float32)
    np.save(os.path.join(a.out, "ort_%s.npy" % a.set), e[:200])
    print(json.dumps({"system": "onnxruntime", "set": a.set, "texts": len(e), "seconds": o["seconds"],
                      "texts_per_s": len(e) / o["seconds"], "peak_rss_mb": o["peak_rss_mb"], "threads": a.threads,
                      "onnxruntime": o["ort_version"]}))


SYSTEMS = ("bienc", "bienc_bf16", "bienc_int8", "pytorch", "pytorch_bf16", "pytorch_int8", "onnxruntime")


def first_embeddings(out, system, s):
    """The first 200 embeddings a system wrote for set s, or None."""
    import h5py
    if system.startswith("bienc"):
        p = os.path.join(out, "%s_%s.h5" % (system, s))
        return h5py.File(p, "r")["embeddings"][:200] if os.path.exists(p) else None
    p = os.path.join(out, "%s_%s.npy" % ({"onnxruntime": "ort"}.get(system, system), s))
    return np.load(p) if os.path.exists(p) else None


def report(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    lines = ["| set | system | texts | texts/s (median of %d) | peak RSS MB (max) | max abs diff vs bienc fp32 (first 200) |"
             % a.repeats, "|---|---|---|---|---|---|"]
    for s in ("var", "fixed"):
        summary = {}
        ref = first_embeddings(a.out, "bienc", s)
        for sysname in SYSTEMS:
            r = [x for x in rows if x["set"] == s and x["system"] == sysname]
            if not r:
                continue
            tps = statistics.median(x["texts_per_s"] for x in r)
            rss = max(x["peak_rss_mb"] for x in r)
            extra = ""
            if sysname.startswith("bienc") and all("encode_texts_per_s" in x for x in r):
                extra = " (encode phase only: %.1f)" % statistics.median(x["encode_texts_per_s"] for x in r)
            phase = statistics.median(x["encode_texts_per_s"] for x in r) if extra else tps
            summary[sysname] = (tps, rss, phase)
            e = first_embeddings(a.out, sysname, s)
            diff = "%.1e" % float(np.abs(e - ref).max()) if e is not None and ref is not None and sysname != "bienc" else ""
            lines.append("| %s | %s | %d | %.1f%s | %.0f | %s |" % (s, sysname, r[0]["texts"], tps, extra, rss, diff))
        for num, den in (("bienc", "onnxruntime"), ("bienc_bf16", "onnxruntime"), ("bienc", "pytorch"),
                         ("bienc_bf16", "pytorch"), ("bienc_bf16", "pytorch_bf16"), ("bienc_int8", "pytorch"),
                         ("bienc_int8", "pytorch_bf16"), ("bienc_int8", "pytorch_int8"), ("bienc_int8", "bienc_bf16"),
                         ("onnxruntime", "pytorch")):
            if num in summary and den in summary:
                n, d = summary[num], summary[den]
                phase = " (encode phase: %.2fx)" % (n[2] / d[2]) if num.startswith("bienc") else ""
                lines.append("| %s | **ratio %s/%s** | | **%.2fx**%s | %.2fx memory | |"
                             % (s, num, den, n[0] / d[0], phase, n[1] / d[1]))
    lines.append("")
    lines.append("Issue 12 targets for reduced-precision encoding: >= 3x pytorch (fp32) and >= 1.5x pytorch_bf16.")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["prep", "torch", "ort", "report"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "bienc"))
    ap.add_argument("--shared", default=os.path.join(SRC, "..", "shared", "data"))
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--set", choices=["var", "fixed"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--results")
    ap.add_argument("--ort", help="onnxruntime-node install (scripts/install-ort-node.sh)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="torch: run under torch.autocast(\"cpu\", bfloat16)")
    ap.add_argument("--int8", action="store_true", help="torch: quantize_dynamic's int8 linear layers")
    a = ap.parse_args()
    {"prep": prep, "torch": run_torch, "ort": run_ort, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
