# What the CLI tests of outputs, full disks, poisoned numbers and consistency share
# (sourced): the binary, the case tally, the prerequisites (missing = exit 77, which ctest
# reports as Skipped), a scratch directory with the Debian data set, and a tiny model.
BIN=${BIENC_BIN:-./bienc}
PY=/usr/bin/python3
tried=0; passed=0
fail() { echo "FAIL: $*"; echo "cases: $tried tried, $passed passed"; exit 1; }
bad() { echo "FAIL: $*"; return 1; } # a failed case: reported, counted, the script goes on
ok() { passed=$((passed + 1)); }
finish() {
  echo "cases: $tried tried, $passed passed"
  [ "$passed" -eq "$tried" ] || exit 1
  echo "PASS"
  exit 0
}
need_h5py() { $PY -c 'import h5py, numpy' 2>/dev/null || { echo "SKIP: python3-h5py / numpy missing"; exit 77; }; }

# scratch NAME: $T (removed at exit) holding the Debian data set in $T/deb
scratch() {
  if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
    echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
    exit 77
  fi
  T=$(mktemp -d "/tmp/bienc_test_$1.XXXXXX")
  trap 'rm -rf "$T"' EXIT
  "$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
}

# debian_slice SRC DEST N: DEST holds the first N passages of the Debian data set in SRC with
# the queries, qrels and triples whose positive is among them (a `bienc run` that encodes
# the whole collection in seconds)
debian_slice() {
  local S=$2
  mkdir -p "$S"
  head -n "$3" "$1/collection.tsv" > "$S/collection.tsv"
  cut -f1 "$S/collection.tsv" > "$S.pids"
  for s in train dev; do
    awk 'NR==FNR{p[$1]=1;next} ($3 in p)' "$S.pids" "$1/qrels.$s.tsv" > "$S/qrels.$s.tsv"
    awk 'NR==FNR{q[$1]=1;next} ($1 in q)' "$S/qrels.$s.tsv" "$1/queries.$s.tsv" > "$S/queries.$s.tsv"
  done
  awk -F'\t' 'NR==FNR{q[$2]=1;next} ($1 in q)' "$S/queries.train.tsv" "$1/triples.train.tsv" > "$S/triples.train.tsv"
  [ -s "$S/queries.dev.tsv" ] && [ -s "$S/triples.train.tsv" ] || fail "empty Debian slice in $S"
}

# tiny_config STEPS CKPT_DIR NAME: a run config for a 1-layer, 32-wide model on $T/deb
tiny_config() {
  cat <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 8, steps: $1, seed: 3}
eval: {every_steps: 0, max_queries: 20}
checkpoint: {dir: $2}
output: {dir: $T/runs, name: $3}
YAML
}

# tiny_model STEPS NAME [--set K=V]...: trains $T/run.yaml (checkpoints in $T/ckpt/NAME);
# M is the last checkpoint
tiny_model() {
  local steps=$1 name=$2; shift 2
  tiny_config "$steps" "$T/ckpt" "$name" > "$T/run.yaml"
  "$BIN" train "$T/run.yaml" --no-progress --no-eval-at-start --eval-passages 200 "$@" >/dev/null 2>"$T/err" ||
    fail "train: $(cat "$T/err")"
  M="$T/ckpt/$name/step-$steps.h5"
  [ -f "$M" ] || fail "no checkpoint $M"
}

# retrieval_fixture: the tiny model ($M) and what the retrieval commands read and write:
# $T/c.tsv (300 passages), q.tsv and qrels.tsv (20 dev queries), c.h5, q.h5, c.idx,
# run.trec (k 10) and hf/ (the model exported as a sentence-transformers folder)
retrieval_fixture() {
  head -n 300 "$T/deb/collection.tsv" > "$T/c.tsv"
  head -n 20 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
  head -n 20 "$T/deb/qrels.dev.tsv" > "$T/qrels.tsv"
  tiny_model 2 o
  "$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" --quiet >/dev/null || fail "encode"
  "$BIN" encode --model "$M" --input "$T/q.tsv" --output "$T/q.h5" --quiet >/dev/null || fail "encode queries"
  "$BIN" index build --embeddings "$T/c.h5" --output "$T/c.idx" >/dev/null || fail "index build"
  "$BIN" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --k 10 --output "$T/run.trec" >/dev/null 2>&1 ||
    fail "search"
  "$BIN" export --model "$M" --output "$T/hf" >/dev/null || fail "export"
}

# reseal FILE: recomputes a checkpoint's whole-file checksum (docs/checkpoint-format.md) after
# h5py changed it, so that only the change itself is wrong
reseal() {
  $PY - "$1" <<'PY' || fail "resealing $1"
import sys
b = bytearray(open(sys.argv[1], "rb").read())
if b[:8] == b"BIENCSUM":
    t = []
    for i in range(256):
        c = i
        for _ in range(8): c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
        t.append(c)
    def crc32c(data):
        c = 0xFFFFFFFF
        for x in data: c = t[(c ^ x) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF
    b[8:16] = len(b).to_bytes(8, "little")
    b[16:20] = crc32c(b[24:]).to_bytes(4, "little")
    b[20:24] = crc32c(b[:20]).to_bytes(4, "little")
    open(sys.argv[1], "wb").write(b)
PY
}
