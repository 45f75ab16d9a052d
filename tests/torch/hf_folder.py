"""Hugging Face / sentence-transformers folders made by the tests (no pretrained weights
exist here and the `transformers` package is not installed): a plain safetensors
reader/writer (F32, F16, BF16), random BertModel weights, and the folder's JSON files in
the layout of ../shared/data/bert-base-uncased/.
"""
import json
import os
import shutil
import struct

import numpy as np

SHARED_TOKENIZER = "bert-base-uncased"
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'") + [
    "##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + ["the", "of", "and", "to", "in", "is", "was", "for", "on", "with"]


def f32_to_bf16_bits(x):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16)."""
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2")


def bf16_bits_to_f32(b):
    return (b.astype("<u4") << 16).view("<f4")


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (float32 array, "F32"|"F16"|"BF16")}. Returns {name: the float32
    values actually stored} (after the F16 / BF16 rounding)."""
    header, blobs, stored, off = {}, [], {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        x, dt = tensors[name]
        x = np.ascontiguousarray(x, dtype=np.float32)
        if dt == "F32":
            raw, back = x.astype("<f4").tobytes(), x.copy()
        elif dt == "F16":
            h = x.astype("<f2")
            raw, back = h.tobytes(), h.astype(np.float32)
        elif dt == "BF16":
            b = f32_to_bf16_bits(x)
            raw, back = b.tobytes(), bf16_bits_to_f32(b).reshape(x.shape)
        else:
            raise ValueError(dt)
        header[name] = {"dtype": dt, "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        stored[name] = back.reshape(x.shape)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return stored


def read_safetensors(path):
    """{name: float32 array}; also returns the raw header dict."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "F32":
            x = np.frombuffer(raw, dtype="<f4")
        elif t["dtype"] == "F16":
            x = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            x = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(t["dtype"])
        out[name] = x.reshape(t["shape"]).copy()
    return out, header


def bert_param_shapes(c):
    """BertModel state_dict names and shapes (no pooler), c: dict of config.json fields."""
    C, I = c["hidden_size"], c["intermediate_size"]
    s = {
        "embeddings.word_embeddings.weight": (c["vocab_size"], C),
        "embeddings.position_embeddings.weight": (c["max_position_embeddings"], C),
        "embeddings.token_type_embeddings.weight": (c["type_vocab_size"], C),
        "embeddings.LayerNorm.weight": (C,),
        "embeddings.LayerNorm.bias": (C,),
    }
    for i in range(c["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[p + m + ".weight"] = (C, C)
            s[p + m + ".bias"] = (C,)
        s[p + "intermediate.dense.weight"] = (I, C)
        s[p + "intermediate.dense.bias"] = (I,)
        s[p + "output.dense.weight"] = (C, I)
        s[p + "output.dense.bias"] = (C,)
        for m in ("attention.output.LayerNorm", "output.LayerNorm"):
            s[p + m + ".weight"] = (C,)
            s[p + m + ".bias"] = (C,)
    return s


def random_params(c, seed):
    """Random weights with visible structure (LayerNorm weights around 1, non-zero biases)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in bert_param_shapes(c).items():
        if "LayerNorm.weight" in name:
            x = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            x = 0.02 * rng.standard_normal(shape)
        else:
            x = 0.05 * rng.standard_normal(shape)
        out[name] = x.astype(np.float32)
    return out


def config_json(hidden=32, layers=2, heads=4, inter=64, max_pos=64, vocab_size=30522, act="gelu"):
    return {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": act,
        "hidden_dropout_prob": 0.1, "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": inter,
        "layer_norm_eps": 1e-12, "max_position_embeddings": max_pos, "model_type": "bert",
        "num_attention_heads": heads, "num_hidden_layers": layers, "pad_token_id": 0,
        "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": vocab_size,
    }


def tokenizer_source(shared):
    """(vocab.txt path or None, vocab list): the shared bert-base-uncased files when present."""
    if shared:
        p = os.path.join(shared, SHARED_TOKENIZER, "vocab.txt")
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return p, [l.rstrip("\n") for l in f]
    return None, list(TINY_VOCAB)


def make_folder(d, cfg, params, vocab, dtype_of=lambda name: "F32", prefix="", pool="mean", normalize=False,
                max_seq_length=None, sentence_transformers=True, extra=None, tokenizer_json=None):
    """Writes an HF (sentence-transformers) folder; returns {HF name: stored float32}."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tensors = {prefix + k: (v, dtype_of(k)) for k, v in params.items()}
    for k, v in (extra or {}).items():
        tensors[k] = (v, "F32")
    stored = write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    if tokenizer_json:
        shutil.copy(tokenizer_json, os.path.join(d, "tokenizer.json"))
    else:
        with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512}, f)
    if sentence_transformers:
        mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if normalize:
            mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
            os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
        with open(os.path.join(d, "modules.json"), "w") as f:
            json.dump(mods, f, indent=2)
        os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
        with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": cfg["hidden_size"], "pooling_mode_cls_token": pool == "cls",
                       "pooling_mode_mean_tokens": pool == "mean", "pooling_mode_max_tokens": pool == "max",
                       "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=2)
        if max_seq_length:
            with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
                json.dump({"max_seq_length": max_seq_length, "do_lower_case": False}, f)
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in stored.items()}
