"""Import / export against PyTorch.

1. A sentence-transformers folder made here (random BertModel weights stored as F32, F16
   and BF16, names with a "bert." prefix, a pooler to skip) imports with exactly its
   parameters (bit for bit after the F16 / BF16 rounding), its pooling, normalisation and
   max_seq_length.
2. `bienc export` of that model: the folder's safetensors, read by a plain parser, loads
   into the plain PyTorch BERT of bert_ref.py (same names, strict) and gives the same
   embeddings as `bienc encode` within 1e-5, with the pooling / normalisation the folder's
   modules.json and 1_Pooling/config.json declare.
3. Importing the export gives bit-identical parameters.
4. A plain Hugging Face folder (no modules.json, tokenizer.json only) imports with mean
   pooling; a folder with a wrong shape or an unknown tensor is refused with its name.
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import hf_folder  # noqa: E402

BIN = os.environ.get("BIENC_BIN", "./bienc")
SHARED = os.environ.get("BIENC_SHARED_DATA", "")
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "what is the capital of france?",
    "Café RÉSUMÉ naïve, 1234 tokens!",
    "a",
    " ".join(["retrieval with dense bi-encoders is fast on a cpu"] * 12),  # longer than max_seq_length
    "Hugging Face sentence-transformers folder exported by bienc",
]


def run(*args, ok=True):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit("FAIL: bienc %s: %s%s" % (" ".join(map(str, args)), p.stdout, p.stderr))
    return p


def h5_params(path):
    with h5py.File(path, "r") as f:
        return {k: f["params"][k][()] for k in f["params"].keys()}, dict(f["model"].attrs)


def check_params(got, want, what):
    if set(got) != set(want):
        sys.exit("FAIL: %s: names differ: %s" % (what, sorted(set(got) ^ set(want))[:5]))
    for k in want:
        if got[k].shape != want[k].shape or not np.array_equal(got[k].view(np.uint32), want[k].view(np.uint32)):
            sys.exit("FAIL: %s: parameter %s differs" % (what, k))
    print("%s: %d parameters bit-identical" % (what, len(want)))


def torch_embed(folder, ids_lists):
    """Embeddings from the exported folder with the plain PyTorch BERT (float64)."""
    cfg = json.load(open(os.path.join(folder, "config.json")))
    mods = json.load(open(os.path.join(folder, "modules.json")))
    pc = json.load(open(os.path.join(folder, "1_Pooling", "config.json")))
    mode = "mean" if pc["pooling_mode_mean_tokens"] else "cls" if pc["pooling_mode_cls_token"] else "max"
    normalize = any(m["type"].endswith("Normalize") for m in mods)
    c = bert_ref.Cfg(vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], num_layers=cfg["num_hidden_layers"],
                     num_heads=cfg["num_attention_heads"], intermediate_size=cfg["intermediate_size"],
                     max_position_embeddings=cfg["max_position_embeddings"], type_vocab_size=cfg["type_vocab_size"],
                     layer_norm_eps=cfg["layer_norm_eps"], activation=cfg["hidden_act"])
    model = bert_ref.Bert(c).double().eval()
    sd, _ = hf_folder.read_safetensors(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(v).double() for k, v in sd.items()}, strict=True)
    L = max(len(x) for x in ids_lists)
    ids = torch.zeros(len(ids_lists), L, dtype=torch.long)
    mask = torch.zeros(len(ids_lists), L, dtype=torch.long)
    for i, x in enumerate(ids_lists):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    with torch.no_grad():
        h = model(ids, torch.zeros_like(ids), mask)
        e = bert_ref.pool(h, mask, mode)
        if normalize:
            e = torch.nn.functional.normalize(e, dim=-1)
    return e.numpy(), mode, normalize


def main():
    torch.manual_seed(0)
    vocab_path, vocab = hf_folder.tokenizer_source(SHARED)
    if vocab_path is None:
        print("note: $BIENC_SHARED_DATA/bert-base-uncased absent: using a tiny vocabulary")
    t = tempfile.mkdtemp(prefix="bienc_hf_")
    cfg = hf_folder.config_json(hidden=32, layers=2, heads=4, inter=64, max_pos=64, vocab_size=len(vocab))
    params = hf_folder.random_params(cfg, seed=7)
    dtypes = ["F32", "F16", "BF16"]
    dtype_of = lambda name: dtypes[sum(map(ord, name)) % 3]  # noqa: E731
    extra = {"bert.pooler.dense.weight": np.ones((32, 32), np.float32), "bert.pooler.dense.bias": np.zeros(32, np.float32)}

    for pool, normalize in (("cls", True), ("mean", False), ("max", True)):
        src = os.path.join(t, "st_%s" % pool)
        want = hf_folder.make_folder(src, cfg, params, vocab, dtype_of=dtype_of, prefix="bert.", pool=pool,
                                     normalize=normalize, max_seq_length=40, extra=extra)
        want = {k: v for k, v in want.items() if not k.startswith("pooler.")}
        m = os.path.join(t, "m_%s.h5" % pool)
        run("import", "--from", src, "--output", m)
        got, attrs = h5_params(m)
        check_params(got, want, "import %s" % pool)
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        assert str(a["pooling"]) == pool and int(a["normalize"]) == int(normalize), a
        assert int(a["max_query_length"]) == 40 and int(a["max_passage_length"]) == 40, a
        assert int(a["num_layers"]) == 2 and int(a["hidden_size"]) == 32 and str(a["activation"]) == "gelu", a

        exp = os.path.join(t, "exp_%s" % pool)
        run("export", "--model", m, "--output", exp)
        for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                     "modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
                     "config_sentence_transformers.json"):
            assert os.path.exists(os.path.join(exp, name)), name
        assert os.path.isdir(os.path.join(exp, "2_Normalize")) == normalize
        assert json.load(open(os.path.join(exp, "sentence_bert_config.json")))["max_seq_length"] == 40
        sd, header = hf_folder.read_safetensors(os.path.join(exp, "model.safetensors"))
        keys = [k for k in header if k != "__metadata__"]
        assert keys == sorted(keys) and all(header[k]["dtype"] == "F32" for k in keys)
        with open(os.path.join(exp, "model.safetensors"), "rb") as f:
            hl = int.from_bytes(f.read(8), "little")
        assert hl % 8 == 0, hl
        check_params(sd, want, "export %s (safetensors)" % pool)

        # same embeddings: bienc encode vs PyTorch on the exported folder
        lines = os.path.join(t, "texts.txt")
        with open(lines, "w") as f:
            f.write("\n".join(TEXTS) + "\n")
        emb = os.path.join(t, "emb_%s.h5" % pool)
        run("encode", "--model", m, "--input", lines, "--format", "lines", "--side", "passage", "--output", emb, "--quiet")
        with h5py.File(emb, "r") as f:
            e_bienc = f["embeddings"][()]
        tok = subprocess.run([BIN, "tokenize", "--vocab", os.path.join(exp, "vocab.txt"), "--max-length", "40"],
                             input="\n".join(TEXTS) + "\n", capture_output=True, text=True, check=True)
        ids = [[int(x) for x in l.split()] for l in tok.stdout.strip("\n").split("\n")]
        assert len(ids) == len(TEXTS) and max(len(x) for x in ids) == 40
        e_torch, mode, norm = torch_embed(exp, ids)
        assert mode == pool and norm == normalize
        err = np.abs(e_bienc.astype(np.float64) - e_torch).max()
        print("export %s%s: bienc encode vs PyTorch max |diff| = %.2e" % (pool, "+normalize" if normalize else "", err))
        if not err < 1e-5:
            sys.exit("FAIL: embeddings differ by %g" % err)

        # import of the export: identical parameters
        m2 = os.path.join(t, "m2_%s.h5" % pool)
        run("import", "--from", exp, "--output", m2)
        got2, attrs2 = h5_params(m2)
        check_params(got2, got, "re-import %s" % pool)
        assert str(attrs2["pooling"].decode() if isinstance(attrs2["pooling"], bytes) else attrs2["pooling"]) == pool

    # a plain HF folder (no sentence-transformers files), tokenizer.json when available
    tj = os.path.join(SHARED, "bert-base-uncased", "tokenizer.json") if vocab_path else None
    plain = os.path.join(t, "plain")
    want = hf_folder.make_folder(plain, cfg, params, vocab, sentence_transformers=False, tokenizer_json=tj)
    run("import", "--from", plain, "--output", os.path.join(t, "plain.h5"))
    got, attrs = h5_params(os.path.join(t, "plain.h5"))
    check_params(got, want, "plain HF folder")
    assert (attrs["pooling"].decode() if isinstance(attrs["pooling"], bytes) else attrs["pooling"]) == "mean"

    # older sentence-transformers layout: the model in 0_Transformer/, Pooling (cls) at the root
    old = os.path.join(t, "old")
    want = hf_folder.make_folder(os.path.join(old, "0_Transformer"), cfg, params, vocab, sentence_transformers=False)
    with open(os.path.join(old, "0_Transformer", "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 20, "do_lower_case": False}, f)
    os.makedirs(os.path.join(old, "1_Pooling"))
    with open(os.path.join(old, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
                   "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, f)
    with open(os.path.join(old, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], f)
    run("import", "--from", old, "--output", os.path.join(t, "old.h5"))
    got, attrs = h5_params(os.path.join(t, "old.h5"))
    check_params(got, want, "0_Transformer folder")
    assert int(attrs["max_passage_length"]) == 20 and int(attrs["normalize"]) == 0
    assert (attrs["pooling"].decode() if isinstance(attrs["pooling"], bytes) else attrs["pooling"]) == "cls"

    # refused: a wrong shape, an unknown tensor, a missing tensor; the message names it
    bad = dict(params)
    bad["encoder.layer.1.output.dense.weight"] = np.zeros((32, 63), np.float32)
    cases = [
        (bad, {}, "encoder.layer.1.output.dense.weight"),
        (params, {"encoder.layer.9.output.dense.bias": np.zeros(32, np.float32)}, "encoder.layer.9.output.dense.bias"),
        ({k: v for k, v in params.items() if k != "embeddings.LayerNorm.bias"}, {}, "embeddings.LayerNorm.bias"),
    ]
    for i, (p, extra, name) in enumerate(cases):
        d = os.path.join(t, "bad%d" % i)
        hf_folder.make_folder(d, cfg, p, vocab, extra=extra, max_seq_length=40)
        r = run("import", "--from", d, "--output", os.path.join(t, "bad.h5"), ok=False)
        if r.returncode != 1 or name not in r.stderr or os.path.exists(os.path.join(t, "bad.h5")):
            sys.exit("FAIL: bad folder %d: rc %d, stderr %r" % (i, r.returncode, r.stderr))
        print("refused:", r.stderr.strip())
    subprocess.run(["rm", "-rf", t])
    print("ok")


if __name__ == "__main__":
    main()
