#!/bin/bash
# bienc import / export from the command line: --help and usage errors (exit 0 / 2), a
# test-made sentence-transformers folder imported, fine-tuned by a YAML run that starts
# from it (model.init_from) for 2 steps, exported, and the export re-imported: the
# fine-tuned parameters survive bit for bit, the folder holds every sentence-transformers
# file; a broken folder (bad JSON, crafted safetensors, unsupported module) fails with
# exit 1, a message naming the file, and no output file.
set -u
BIN=${BIENC_BIN:-./bienc}
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d /tmp/bienc_test_impexp.XXXXXX)
trap 'rm -rf "$T"' EXIT

for c in import export; do
  "$BIN" $c --help | grep -q "usage: bienc $c" || fail "$c --help"
  "$BIN" $c >/dev/null 2>&1; [ $? -eq 2 ] || fail "$c without arguments must exit 2"
  "$BIN" $c --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "$c --bogus must exit 2"
done

$PY - "$T/st" <<PY || fail "making the test folder"
import sys
sys.path.insert(0, "$SRC/tests/torch")
import hf_folder
cfg = hf_folder.config_json(hidden=32, layers=2, heads=4, inter=64, max_pos=64, vocab_size=len(hf_folder.TINY_VOCAB))
hf_folder.make_folder(sys.argv[1], cfg, hf_folder.random_params(cfg, 5), hf_folder.TINY_VOCAB,
                      dtype_of=lambda n: "BF16" if "attention" in n else "F32", prefix="bert.", pool="mean",
                      normalize=True, max_seq_length=24)
PY
"$BIN" import --from "$T/st" --output "$T/m.h5" --max-query-length 16 > "$T/out" || fail "import"
grep -q "2 layers, hidden 32" "$T/out" && grep -q "max length 16/24" "$T/out" || fail "import summary: $(cat "$T/out")"

# fine-tuning from the imported model
cat > "$T/triples.tsv" <<'TSV'
the cat is on the mat	a cat sat on a mat	water is wet
what is water	water is a liquid	the sun is hot
where is the dog	the dog is in the fog	books on a shelf
who was the king	the king was old	a cat in the sun
what is the sun	the sun is a star	dogs and cats
is the fog wet	fog is water in the air	the mat is red
TSV
cat > "$T/run.yaml" <<YAML
model: {init_from: $T/m.h5}
tokenizer: {max_query_length: 16, max_passage_length: 24}
data: {format: msmarco_triples, triples: $T/triples.tsv}
train: {batch_size: 3, steps: 2, seed: 1}
optim: {lr: 0.001}
eval: {every_steps: 0}
checkpoint: {dir: $T/ckpt}
output: {dir: $T/runs, name: ft}
YAML
"$BIN" train "$T/run.yaml" --no-progress --no-eval-at-start >"$T/train.log" 2>&1 || fail "train from the import: $(tail -5 "$T/train.log")"
M=$(ls "$T"/ckpt/ft/step-*.h5 2>/dev/null | tail -1)
[ -f "$M" ] || fail "no checkpoint after fine-tuning"

"$BIN" export --model "$M" --output "$T/exp" >/dev/null || fail "export"
"$BIN" import --from "$T/exp" --output "$T/m2.h5" >/dev/null || fail "re-import"
$PY - "$T" "$M" <<'PY' || fail "export content"
import json, os, sys, h5py, numpy as np
t, m = sys.argv[1], sys.argv[2]
def params(p):
    with h5py.File(p, "r") as f:
        return {k: f["params"][k][()] for k in f["params"].keys()}, dict(f["model"].attrs)
a, _ = params(t + "/m.h5"); b, attrs = params(m); c, attrs2 = params(t + "/m2.h5")
assert set(a) == set(b) == set(c)
assert any(not np.array_equal(a[k], b[k]) for k in a), "fine-tuning changed nothing"
for k in b:
    assert np.array_equal(b[k].view(np.uint32), c[k].view(np.uint32)), k
e = t + "/exp"
for f in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
          "modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"]:
    assert os.path.isfile(os.path.join(e, f)), f
    if f.endswith(".json"):
        json.load(open(os.path.join(e, f)))
assert os.path.isdir(e + "/2_Normalize")
cfg = json.load(open(e + "/config.json"))
assert cfg["architectures"] == ["BertModel"] and cfg["hidden_size"] == 32 and cfg["num_hidden_layers"] == 2
assert cfg["layer_norm_eps"] == 1e-12 and cfg["hidden_dropout_prob"] == 0.1, cfg
mods = json.load(open(e + "/modules.json"))
assert [x["type"].split(".")[-1] for x in mods] == ["Transformer", "Pooling", "Normalize"]
pool = json.load(open(e + "/1_Pooling/config.json"))
assert pool["pooling_mode_mean_tokens"] and not pool["pooling_mode_cls_token"] and pool["word_embedding_dimension"] == 32
assert json.load(open(e + "/tokenizer_config.json"))["do_lower_case"] is True
assert open(e + "/vocab.txt").read().split("\n")[:3] == ["[PAD]", "[UNK]", "[CLS]"]
print("fine-tuned, exported and re-imported:", len(b), "parameters identical")
PY

# broken folders: exit 1, the file named, no output
bad() {  # $1 = label, $2 = expected text in the message
  rm -f "$T/bad.h5"
  "$BIN" import --from "$T/bad" --output "$T/bad.h5" >/dev/null 2>"$T/err"
  local rc=$?
  [ $rc -eq 1 ] || fail "$1: exit $rc"
  grep -q -- "$2" "$T/err" || fail "$1: message '$(cat "$T/err")' lacks '$2'"
  [ ! -e "$T/bad.h5" ] || fail "$1: output written"
}
cp -r "$T/st" "$T/bad"
printf '{"hidden_size": 32,' > "$T/bad/config.json"
bad "truncated config.json" "bad/config.json"
cp "$T/st/config.json" "$T/bad/config.json"
$PY -c "
import sys; p = sys.argv[1]; d = bytearray(open(p, 'rb').read()); d[0:8] = (len(d) * 2).to_bytes(8, 'little'); open(p, 'wb').write(d)" \
  "$T/bad/model.safetensors"
bad "header length past the file" "model.safetensors: header length"
cp "$T/st/model.safetensors" "$T/bad/model.safetensors"
sed -i 's/sentence_transformers.models.Normalize/sentence_transformers.models.Dense/' "$T/bad/modules.json"
bad "unsupported module" "modules.json: module 2"
rm -f "$T/bad/modules.json" "$T/bad/model.safetensors"
bad "no weights" "model.safetensors"
"$BIN" export --model "$T/nonexistent.h5" --output "$T/x" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "export of a missing model"
echo "ok"
