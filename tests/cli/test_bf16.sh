#!/bin/bash
# bf16 mixed precision end to end (issue 12), on the built-in Debian data with a tiny model:
#  - train.precision=bf16 trains (the log says which kernel), its losses are within 2% of
#    fp32's, on the CPU's bf16 path and on the forced fallback (BIENC_BF16_PATH=fallback);
#  - --stop-at 3 + --resume in bf16 gives the same losses digit for digit (fp32 master
#    weights and AdamW state in the checkpoint, bf16 copies rebuilt from them);
#  - checkpoints stay float32;
#  - encode --precision bf16: every embedding within cosine 0.999 of fp32's, both paths;
#    search --precision bf16 encodes the queries and writes a run;
#  - encode --precision int8 (inference only): within cosine 0.995 of fp32's, the same bits
#    on the VNNI path and the forced fallback (BIENC_I8_PATH=fallback); train.precision int8
#    is refused with a message naming the key.
set -u
BIN=${BIENC_BIN:-./bienc}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_bf16.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
"$BIN" version | grep '^bf16:' || fail "bienc version does not say the bf16 path"

cat > "$T/run.yaml" <<YAML
model: {size: tiny, hidden: 64, layers: 1, heads: 2, intermediate: 128, max_positions: 64}
tokenizer: {train: {size: 2000}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
optim: {lr: 1.0e-3}
train: {batch_size: 16, steps: 6, seed: 7, log_every_steps: 1}
eval: {every_steps: 0, max_queries: 40}
checkpoint: {dir: $T/ckpt, every_steps: 3, keep_last: 3}
output: {dir: $T/runs}
YAML
ARGS=(--threads 2 --eval-passages 300 --no-progress --no-eval-at-start)
losses() { grep '"loss"' "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }

"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=fp32 >/dev/null 2>"$T/err" || fail "fp32 run: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=bf16 --set train.precision=bf16 >/dev/null 2>"$T/err" ||
  fail "bf16 run: $(cat "$T/err")"
grep -q 'threads, bf16 (' "$T/err" || fail "the log should say bf16 and its kernel: $(cat "$T/err")"
BIENC_BF16_PATH=fallback "$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=fb --set train.precision=bf16 \
  >/dev/null 2>"$T/err" || fail "bf16 fallback run: $(cat "$T/err")"
grep -q 'bf16 (fallback kernel)' "$T/err" || fail "BIENC_BF16_PATH=fallback not in force: $(cat "$T/err")"
# auto: bf16 where the CPU has the AVX512_BF16 kernel, else fp32
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=auto --set train.precision=auto >/dev/null 2>"$T/err" ||
  fail "auto run: $(cat "$T/err")"
if "$BIN" version | grep -q '^bf16: avx512_bf16'; then
  grep -q 'threads, bf16 (avx512_bf16)' "$T/err" || fail "auto on an AVX512_BF16 CPU should train in bf16: $(cat "$T/err")"
else
  grep -q 'threads, fp32' "$T/err" || fail "auto without AVX512_BF16 should train in fp32: $(cat "$T/err")"
fi
BIENC_BF16_PATH=fallback "$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=auto2 --set train.precision=auto \
  >/dev/null 2>"$T/err" || fail "auto fallback run: $(cat "$T/err")"
grep -q 'threads, fp32' "$T/err" || fail "auto with the fallback kernel should train in fp32: $(cat "$T/err")"

$PY - "$T" <<'PY' || fail "bf16 losses"
import sys, json
t = sys.argv[1]
def losses(name):
    return [json.loads(l)["loss"] for l in open(f"{t}/runs/{name}/metrics.jsonl") if '"loss"' in l]
fp, bf, fb = losses("fp32"), losses("bf16"), losses("fb")
assert len(fp) == len(bf) == len(fb) == 6, (fp, bf, fb)
for name, run in (("bf16", bf), ("fallback", fb)):
    rel = max(abs(a - b) / abs(b) for a, b in zip(run, fp))
    print(f"{name} vs fp32 losses: max rel diff {rel:.2e}")
    assert rel < 0.02, (name, run, fp)
assert bf != fp, "bf16 losses equal fp32's digit for digit: is the bf16 path used at all?"
PY

# bf16 in two pieces equals bf16 in one go
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --set train.precision=bf16 --stop-at 3 \
  >/dev/null 2>"$T/err" || fail "--stop-at run: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --set train.precision=bf16 --resume \
  >"$T/out" 2>"$T/err" || fail "--resume: $(cat "$T/err")"
grep -q 'resumed at 3' "$T/out" || fail "resume did not start at step 3: $(cat "$T/out")"
[ "$(losses "$T/runs/bf16/metrics.jsonl")" = "$(losses "$T/runs/split/metrics.jsonl")" ] ||
  fail "bf16 resumed losses differ: $(losses "$T/runs/bf16/metrics.jsonl" | tr '\n' ' ') vs $(losses "$T/runs/split/metrics.jsonl" | tr '\n' ' ')"

M="$T/ckpt/bf16/step-6.h5"
[ -f "$M" ] || fail "no bf16 checkpoint"
$PY - "$M" <<'PY' || fail "checkpoint dtypes"
import sys, h5py, numpy as np
floats = []
h5py.File(sys.argv[1], "r").visititems(lambda n, o: floats.append((n, o.dtype)) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
assert floats and all(d == np.float32 for _, d in floats), [x for x in floats if x[1] != np.float32]
print(f"checkpoint: {len(floats)} float datasets, all float32")
PY

head -n 300 "$T/deb/collection.tsv" > "$T/coll.tsv"
"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/fp32.h5" --quiet || fail "encode fp32"
"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/bf16.h5" --precision bf16 --quiet || fail "encode bf16"
BIENC_BF16_PATH=fallback "$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/fb.h5" --precision bf16 --quiet ||
  fail "encode bf16 fallback"
"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/int8.h5" --precision int8 --quiet || fail "encode int8"
BIENC_I8_PATH=fallback "$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/i8fb.h5" --precision int8 --quiet ||
  fail "encode int8 fallback"
$PY - "$T" <<'PY' || fail "bf16 embeddings"
import sys, h5py, numpy as np
t = sys.argv[1]
e = {n: h5py.File(f"{t}/{n}.h5", "r")["embeddings"][:].astype(np.float64) for n in ("fp32", "bf16", "fb")}
def cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
for n in ("bf16", "fb"):
    c = cos(e[n], e["fp32"])
    print(f"encode {n} vs fp32: min cosine {c.min():.8f} (1 - cos {1 - c.min():.1e}), max abs diff {np.abs(e[n] - e['fp32']).max():.1e} over {len(c)} passages")
    assert c.min() >= 0.999, c.min()
assert not np.array_equal(e["bf16"], e["fp32"])
i8 = {n: h5py.File(f"{t}/{n}.h5", "r")["embeddings"][:] for n in ("int8", "i8fb")}
c = cos(i8["int8"].astype(np.float64), e["fp32"])
print(f"encode int8 vs fp32: min cosine {c.min():.6f}, max abs diff {np.abs(i8['int8'] - e['fp32']).max():.1e}")
assert c.min() >= 0.995, c.min()
assert np.array_equal(i8["int8"], i8["i8fb"]), "int8: the VNNI path and the fallback differ"
assert not np.array_equal(i8["int8"].astype(np.float64), e["bf16"])
PY
"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/x.h5" --precision fp16 2>"$T/err"
[ $? -eq 2 ] || fail "--precision fp16 should be a usage error"
grep -q 'fp32, bf16 or int8' "$T/err" || fail "--precision error message: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set train.precision=int8 >/dev/null 2>"$T/err" &&
  fail "train.precision int8 should be refused"
grep -q 'train.precision' "$T/err" || fail "train.precision int8 message: $(cat "$T/err")"

"$BIN" index build --embeddings "$T/fp32.h5" --output "$T/coll.idx" >/dev/null || fail "index build"
head -n 20 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
"$BIN" search --index "$T/coll.idx" --model "$M" --queries "$T/q.tsv" --precision bf16 --k 10 --output "$T/run.trec" \
  >/dev/null 2>"$T/err" || fail "search --precision bf16: $(cat "$T/err")"
[ "$(wc -l < "$T/run.trec")" -eq 200 ] || fail "run should have 20 x 10 lines"
echo "PASS"
