"""An independent re-statement of Hugging Face BertTokenizer's basic + WordPiece steps on
Python's own unicodedata, the oracle for `bienc tokenize --no-special` on large and random
inputs (tests/cli/test_tokenize.sh). Invalid UTF-8 is decoded with errors="replace", so it
becomes U+FFFD and is dropped, which is what bienc does.

usage: bert_oracle.py VOCAB.txt [cased] < lines > ids
"""
import sys
import unicodedata

def is_ws(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"
def is_ctrl(c):
    if c in "\t\n\r": return False
    return unicodedata.category(c).startswith("C")
def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126: return True
    return unicodedata.category(c).startswith("P")
def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

def basic(text, lower):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_ctrl(c): continue
        out.append(" " if is_ws(c) else c)
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in out)
    words = []
    for tok in text.split():
        if lower:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = []
        for c in tok:
            if is_punct(c):
                if cur: words.append("".join(cur)); cur = []
                words.append(c)
            else:
                cur.append(c)
        if cur: words.append("".join(cur))
    return words

def wordpiece(word, vocab):
    if len(word) > 100: return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            s = word[start:end]
            if start > 0: s = "##" + s
            if s in vocab: cur = s; break
            end -= 1
        if cur is None: return ["[UNK]"]
        out.append(cur); start = end
    return out

LOWER = not (len(sys.argv) > 2 and sys.argv[2] == "cased")
vocab = {}
for i, l in enumerate(open(sys.argv[1], encoding="utf-8")):
    vocab[l.rstrip("\n")] = i
for line in sys.stdin.buffer:
    text = line.rstrip(b"\n").decode("utf-8", errors="replace")
    ids = [vocab[p] for w in basic(text, LOWER) for p in wordpiece(w, vocab)]
    print(" ".join(map(str, ids)))
