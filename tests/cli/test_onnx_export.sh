#!/bin/bash
# bienc export --format onnx, checked with Debian's python3-onnx (the ONNX checker and the
# protobuf schema; ONNX Runtime itself is in test_onnx_ort.sh): for tiny bi-encoders (mean /
# cls / max pooling, GELU erf / tanh) and a cross-encoder made by the export driver, the
# model passes onnx.checker with full shape inference, has the documented inputs, outputs,
# opset and metadata, and holds every parameter of the checkpoint bit for bit (linear
# weights transposed); the tokenizer.json beside it tokenizes as vocab.txt does; usage
# errors exit 2, a failed export exits 1 and leaves no model.onnx behind.
set -u
BIN=${BIENC_BIN:-./bienc}
BUILD=${BIENC_BUILD_DIR:-.}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
$PY -c 'import onnx, h5py, numpy' 2>/dev/null || { echo "SKIP: python3-onnx / h5py / numpy missing (scripts/install-deps.sh --tests)"; exit 77; }
T=$(mktemp -d /tmp/bienc_test_onnx.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$BUILD/tests/torch_export_models_driver" "$T" || fail "export driver"
"$BIN" export --help | grep -q -- "--format sentence-transformers|onnx" || fail "export --help lacks --format"
"$BIN" export --model "$T/bi_mean.h5" --output "$T/x" --format tflite >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --format must exit 2"
for m in bi_mean bi_cls bi_max cross; do
  "$BIN" export --model "$T/$m.h5" --format onnx --output "$T/$m" > "$T/out" || fail "export $m"
  grep -q "$T/$m/model.onnx" "$T/out" || fail "export $m: $(cat "$T/out")"
done
# a cross-encoder has no sentence-transformers form
"$BIN" export --model "$T/cross.h5" --output "$T/st_cross" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "cross-encoder as sentence-transformers must fail"
grep -q "format onnx" "$T/err" || fail "cross-encoder message: $(cat "$T/err")"
# the sentence-transformers export now has tokenizer.json too
"$BIN" export --model "$T/bi_mean.h5" --output "$T/st" >/dev/null || fail "sentence-transformers export"
[ -f "$T/st/tokenizer.json" ] || fail "sentence-transformers export lacks tokenizer.json"

$PY - "$T" <<'PY' || fail "ONNX content"
import json, sys
import h5py, numpy as np, onnx
from onnx import numpy_helper, shape_inference
t = sys.argv[1]
kinds = {"bi_mean": ("mean", True), "bi_cls": ("cls", False), "bi_max": ("max", True), "cross": (None, None)}
for name, (pool, norm) in kinds.items():
    d = "%s/%s" % (t, name)
    m = onnx.load(d + "/model.onnx")
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8 and [(o.domain, o.version) for o in m.opset_import] == [("", 17)], (m.ir_version, m.opset_import)
    assert m.producer_name == "bienc"
    meta = {p.key: p.value for p in m.metadata_props}
    g = m.graph
    ins = {i.name: i for i in g.input}
    assert list(ins) == ["input_ids", "attention_mask", "token_type_ids"], list(ins)
    for i in g.input:
        tt = i.type.tensor_type
        assert tt.elem_type == onnx.TensorProto.INT64 and [x.dim_param for x in tt.shape.dim] == ["batch", "sequence"], i
    # shapes as ONNX's own inference derives them from the graph, against the declared outputs
    inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    vi = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    def dims(v):
        return [x.dim_param or x.dim_value for x in v.type.tensor_type.shape.dim]
    with h5py.File(d + ".h5", "r") as f:
        params = {k: f["params"][k][()] for k in f["params"].keys()}
        attrs = dict(f["model"].attrs)
    C = int(attrs["hidden_size"])
    outs = [o.name for o in g.output]
    if pool:
        assert outs == ["last_hidden_state", "sentence_embedding"], outs
        assert dims(g.output[0]) == ["batch", "sequence", C] and dims(g.output[1]) == ["batch", C]
        assert meta["kind"] == "bi_encoder" and meta["pooling"] == pool and meta["normalize"] == str(norm).lower(), meta
        ops = {n.op_type for n in g.node}
        assert ("ReduceMax" in ops) == (pool == "max") and ("ReduceL2" in ops) == norm, ops
        assert ("Erf" in ops) == (name != "bi_cls") and ("Tanh" in ops) == (name == "bi_cls"), ops
    else:
        assert outs == ["logits"] and dims(g.output[0]) == ["batch", 1], outs
        assert meta["kind"] == "cross_encoder" and meta["type_vocab_size"] == "3", meta
    # every checkpoint parameter, bit for bit (linear weights stored transposed as NAME_T)
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for k, v in params.items():
        if k in inits:
            got = inits[k]
        else:
            assert k + "_T" in inits, "parameter %s missing from %s" % (k, name)
            got = inits[k + "_T"].T
        assert got.dtype == np.float32 and got.shape == v.shape and np.array_equal(got.view(np.uint32), v.view(np.uint32)), k
    eps = [a.f for n in g.node if n.op_type == "LayerNormalization" for a in n.attribute if a.name == "epsilon"]
    assert len(eps) == 1 + 2 * int(attrs["num_layers"]) and all(np.float32(e) == np.float32(attrs["layer_norm_eps"]) for e in eps), eps
    cfg = json.load(open(d + "/config.json"))
    assert cfg["architectures"] == (["BertForSequenceClassification"] if name == "cross" else ["BertModel"]), cfg
    assert cfg["hidden_size"] == C and cfg["type_vocab_size"] == int(attrs["type_vocab_size"])
    tok = json.load(open(d + "/tokenizer.json"))
    vocab = open(d + "/vocab.txt", encoding="utf-8").read().split("\n")[:-1]
    assert tok["model"]["type"] == "WordPiece" and tok["model"]["vocab"] == {w: i for i, w in enumerate(vocab)}
    assert [a["content"] for a in tok["added_tokens"]] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert json.load(open(d + "/tokenizer_config.json"))["model_max_length"] == (40 if name == "cross" else 32)
    print(name, "ok:", len(g.node), "nodes,", len(g.initializer), "initializers")
PY

# tokenizer.json and vocab.txt give the same ids (bienc reads both)
printf 'the cat is on the mat\nWATER, fog; and the King!\nzebra quux\n' > "$T/texts.txt"
"$BIN" tokenize --vocab "$T/bi_mean/vocab.txt" < "$T/texts.txt" > "$T/a.ids" || fail "tokenize with vocab.txt"
"$BIN" tokenize --vocab "$T/bi_mean/tokenizer.json" < "$T/texts.txt" > "$T/b.ids" || fail "tokenize with tokenizer.json"
cmp -s "$T/a.ids" "$T/b.ids" || fail "tokenizer.json and vocab.txt disagree"

# a failed export: exit 1, the path named, nothing left behind
touch "$T/blocker"
"$BIN" export --model "$T/bi_mean.h5" --format onnx --output "$T/blocker" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "export into a file must fail"
grep -q "blocker" "$T/err" || fail "message lacks the path: $(cat "$T/err")"
mkdir "$T/ro" && chmod 555 "$T/ro"
if [ ! -w "$T/ro" ]; then  # root writes anywhere: then only the first case applies
  "$BIN" export --model "$T/bi_mean.h5" --format onnx --output "$T/ro" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "read-only dir"
  [ -z "$(ls "$T/ro")" ] || fail "read-only dir: files left: $(ls "$T/ro")"
fi
"$BIN" export --model "$T/nonexistent.h5" --format onnx --output "$T/y" >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing model"
[ ! -e "$T/y/model.onnx" ] || fail "missing model: output written"
echo "ok"
