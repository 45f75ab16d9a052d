"""A plain PyTorch BERT encoder used as the oracle for bienc's encoder.

The `transformers` package is not available (nor wanted) here, so this module rebuilds
BertModel's encoder with the SAME module tree, hence the same state_dict names:
embeddings.word_embeddings.weight, ..., encoder.layer.N.output.LayerNorm.bias.
No pooler (sentence-transformers never uses it). Padded batch + attention mask, as
BertModel is normally run; pooling as sentence-transformers' Pooling module.
Also a reader for the record files the C drivers write.
"""
import math
import struct

import numpy as np
import torch
import torch.nn as nn


class Cfg:
    def __init__(self, **kw):
        self.vocab_size = 30522
        self.hidden_size = 768
        self.num_layers = 12
        self.num_heads = 12
        self.intermediate_size = 3072
        self.max_position_embeddings = 512
        self.type_vocab_size = 2
        self.layer_norm_eps = 1e-12
        self.activation = "gelu"
        self.hidden_dropout = 0.0
        self.attention_dropout = 0.0
        self.__dict__.update(kw)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout)

    def forward(self, ids, type_ids):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0).expand_as(ids)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(type_ids)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h = c.num_heads
        self.d = c.hidden_size // c.num_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_dropout)

    def forward(self, x, add_mask):
        B, L, C = x.shape

        def heads(t):
            return t.view(B, L, self.h, self.d).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(self.d) + add_mask
        p = self.dropout(torch.softmax(s, dim=-1))
        return (p @ v).transpose(1, 2).reshape(B, L, C)


class DenseLN(nn.Module):
    """BertSelfOutput / BertOutput: dense, then LayerNorm of (residual + dense)."""

    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout)

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseLN(c, c.hidden_size)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.approx = "tanh" if c.activation in ("gelu_new", "gelu_pytorch_tanh", "tanh") else "none"

    def forward(self, x):
        return torch.nn.functional.gelu(self.dense(x), approximate=self.approx)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLN(c, c.intermediate_size)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_layers)])


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, ids, type_ids, mask):
        """ids, type_ids, mask: [B, L]; returns last_hidden_state [B, L, C]."""
        x = self.embeddings(ids, type_ids)
        add_mask = ((1.0 - mask.to(x.dtype)) * torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, add_mask)
        return x


def pool(hidden, mask, mode):
    """sentence-transformers' Pooling: mean over the mask, CLS token, or max over the mask."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    if mode == "mean":
        return (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(m == 0, -1e9).max(1).values
    raise ValueError(mode)


def read_records(path):
    """Records written by the C drivers: int32 name length, name, int32 ndim,
    int64 shape[ndim], float32 data. Returns {name: np.ndarray}."""
    out = {}
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0
    while pos < len(buf):
        (n,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        name = buf[pos:pos + n].decode()
        pos += n
        (nd,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        shape = struct.unpack_from("<%dq" % nd, buf, pos)
        pos += 8 * nd
        size = int(np.prod(shape)) if nd else 1
        out[name] = np.frombuffer(buf, dtype="<f4", count=size, offset=pos).reshape(shape).copy()
        pos += 4 * size
    return out
