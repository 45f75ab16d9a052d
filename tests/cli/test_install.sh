#!/bin/bash
# The installed library: `cmake --install` into a temporary prefix, then a small C program
# that includes only <bienc/bienc.h> is compiled with `pkg-config bienc` (shared, and static
# against libbienc.a), run against a tiny model made with the CLI (`bienc import` of a
# test-made sentence-transformers folder) and a tiny index (`bienc encode` + `bienc index
# build`). Checks: the program's embeddings equal `bienc encode`'s, the search finds the
# passage identical to the query first with its name, and errors come back as status +
# message naming the file. Also: the shared library exports only `bienc_` symbols, only
# bienc.h is installed, the README's example program compiles and finds the right passage,
# and bienc_evaluate gives the hand-checked numbers of `bienc eval`'s test.
set -u
BIN=${BIENC_BIN:-./bienc}
BUILD=${BIENC_BUILD_DIR:-.}
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
CC=${CC:-cc}
fail() { echo "FAIL: $*"; exit 1; }
for f in libbienc.so libbienc.a bienc.pc; do
  [ -e "$BUILD/$f" ] || fail "$BUILD/$f not built (build the default target first)"
done
command -v pkg-config >/dev/null || fail "pkg-config missing (apt-get install pkg-config)"
T=$(mktemp -d /tmp/bienc_test_install.XXXXXX)
trap 'rm -rf "$T"' EXIT

cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -5 "$T/install.log")"
for f in include/bienc/bienc.h lib/libbienc.a lib/pkgconfig/bienc.pc bin/bienc share/bienc/eval/bm25_xapian.py; do
  [ -e "$T/prefix/$f" ] || fail "not installed: $f"
done
ls "$T"/prefix/lib/libbienc.so* >/dev/null 2>&1 || fail "not installed: lib/libbienc.so"
# the public API only: one header, and libbienc.so exports bienc_* and nothing else
hdrs=$(cd "$T/prefix/include" && find . -type f | sort | tr '\n' ' ')
[ "$hdrs" = "./bienc/bienc.h " ] || fail "installed headers: $hdrs (expected only bienc/bienc.h)"
so=$(ls "$T"/prefix/lib/libbienc.so.*.*.* | head -1)
command -v nm >/dev/null || fail "nm missing (apt-get install binutils)"
nm -D --defined-only "$so" | awk '{print $NF}' > "$T/exports.txt"
others=$(grep -v '^bienc_' "$T/exports.txt" | tr '\n' ' ')
[ -z "$others" ] || fail "libbienc.so exports symbols without the bienc_ prefix: $others"
# every function of bienc.h is exported (and nothing it does not declare)
grep -o 'BIENC_API [^(]*(' "$SRC/include/bienc/bienc.h" | grep -o 'bienc_[a-z_0-9]*($' | tr -d '(' | sort > "$T/declared.txt"
sort "$T/exports.txt" | cmp -s - "$T/declared.txt" ||
  fail "exports differ from bienc.h's BIENC_API functions: $(sort "$T/exports.txt" | diff - "$T/declared.txt" | tr '\n' ' ')"
[ "$(wc -l < "$T/declared.txt")" -ge 20 ] || fail "too few BIENC_API functions found: $(cat "$T/declared.txt")"

export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
pkg-config --exists bienc || fail "pkg-config does not find bienc"
# the .pc must point into the prefix it was installed to
case "$(pkg-config --cflags bienc)" in *"$T/prefix"*) ;; *) fail "bienc.pc cflags '$(pkg-config --cflags bienc)' outside $T/prefix";; esac

# a tiny model (random weights) through the CLI, and a tiny index
$PY - "$T/st" <<PY || fail "making the test folder"
import sys
sys.path.insert(0, "$SRC/tests/torch")
import hf_folder
cfg = hf_folder.config_json(hidden=32, layers=1, heads=4, inter=64, max_pos=64, vocab_size=len(hf_folder.TINY_VOCAB))
hf_folder.make_folder(sys.argv[1], cfg, hf_folder.random_params(cfg, 3), hf_folder.TINY_VOCAB, normalize=True,
                      max_seq_length=32)
PY
"$BIN" import --from "$T/st" --output "$T/model.h5" >/dev/null || fail "bienc import"
printf 'the cat sat on the mat\na dog in the fog\nbooks of the world\nwater is wet\nthe sun and the moon\n' > "$T/pass.txt"
printf 'a dog in the fog\nwhat is water\n' > "$T/q.txt"
"$BIN" encode --model "$T/model.h5" --input "$T/pass.txt" --format lines --output "$T/pass.h5" --quiet || fail "encode passages"
"$BIN" encode --model "$T/model.h5" --input "$T/q.txt" --format lines --side query --output "$T/q.h5" --quiet || fail "encode queries"
"$BIN" index build --embeddings "$T/pass.h5" --output "$T/pass.idx" --threads 1 >/dev/null || fail "index build"

cat > "$T/prog.c" <<'C'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bienc/bienc.h>

int main(int argc, char **argv)
{
    bienc_model *m = NULL;
    bienc_index *x = NULL;
    /* errors: a status and a message naming the file */
    if (bienc_model_open("/nonexistent/model.h5", &m) >= 0 || !strstr(bienc_last_error(), "/nonexistent/model.h5")) {
        fprintf(stderr, "missing model not reported: %s\n", bienc_last_error());
        return 1;
    }
    if (bienc_model_open(argv[1], &m) != 0 || bienc_index_open(argv[2], &x) != 0) {
        fprintf(stderr, "open: %s\n", bienc_last_error());
        return 1;
    }
    int dim = bienc_model_dim(m);
    const char *texts[2] = {"a dog in the fog", "what is water"};
    float *q = malloc(sizeof(float) * 2 * (size_t)dim);
    if (bienc_encode(m, texts, 2, 1, q) != 0) {
        fprintf(stderr, "encode: %s\n", bienc_last_error());
        return 1;
    }
    int64_t ids[6];
    float scores[6];
    if (bienc_index_dim(x) != dim || bienc_search(x, q, 2, 3, 0, ids, scores) != 0) {
        fprintf(stderr, "search: %s\n", bienc_last_error());
        return 1;
    }
    if (bienc_search(x, q, 2, 0, 0, ids, scores) >= 0) return 1;  /* k = 0 is an error */
    /* reduced precision through the library: int8 embeddings close to fp32's, not equal */
    float *q8 = malloc(sizeof(float) * 2 * (size_t)dim);
    if (bienc_model_set_precision(m, "fp16") >= 0 || bienc_model_set_precision(m, "int8") != 0 ||
        bienc_encode(m, texts, 2, 1, q8) != 0) {
        fprintf(stderr, "int8: %s\n", bienc_last_error());
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        double d = 0, n1 = 0, n2 = 0;
        for (int j = 0; j < dim; j++) d += q[i * dim + j] * q8[i * dim + j], n1 += q[i * dim + j] * q[i * dim + j],
                                      n2 += q8[i * dim + j] * q8[i * dim + j];
        if (d <= 0 || d * d < 0.99 * 0.99 * n1 * n2) /* cosine >= 0.99, without libm */
            return fprintf(stderr, "int8 embedding %d: cosine^2 %.4f\n", i, d * d / (n1 * n2)), 1;
    }
    if (memcmp(q, q8, sizeof(float) * 2 * (size_t)dim) == 0) return fprintf(stderr, "int8 changed nothing\n"), 1;
    free(q8);
    printf("version %s dim %d normalized %d count %lld\n", bienc_version(), dim, bienc_model_normalized(m),
           (long long)bienc_index_count(x));
    for (int i = 0; i < 2; i++) {
        printf("emb");
        for (int j = 0; j < dim; j++) printf(" %.9g", q[i * dim + j]);
        printf("\nhits");
        for (int j = 0; j < 3; j++) printf(" %s:%.6f", bienc_index_name(x, ids[i * 3 + j]), scores[i * 3 + j]);
        printf("\n");
    }
    free(q);
    bienc_index_close(x);
    bienc_model_close(m);
    bienc_model_close(NULL);
    bienc_index_close(NULL);
    return 0;
}
C
$CC -std=c11 -Wall -Werror -o "$T/prog_shared" "$T/prog.c" $(pkg-config --cflags --libs bienc) 2>"$T/cc.log" ||
  fail "compile against the shared library: $(cat "$T/cc.log")"
LD_LIBRARY_PATH="$T/prefix/lib" "$T/prog_shared" "$T/model.h5" "$T/pass.idx" > "$T/out_shared.txt" 2>"$T/err" ||
  fail "shared program: $(cat "$T/err")"
LD_LIBRARY_PATH="$T/prefix/lib" ldd "$T/prog_shared" | grep -q "$T/prefix/lib/libbienc.so" || fail "prog_shared does not use the installed libbienc.so"
# static: libbienc.a by path, its dependencies from Libs.private
$CC -std=c11 -Wall -Werror -o "$T/prog_static" "$T/prog.c" $(pkg-config --cflags bienc) "$T/prefix/lib/libbienc.a" \
  $(pkg-config --static --libs bienc | sed 's/-lbienc//; s/-L[^ ]*//') 2>"$T/cc.log" ||
  fail "compile against the static library: $(cat "$T/cc.log")"
"$T/prog_static" "$T/model.h5" "$T/pass.idx" > "$T/out_static.txt" 2>"$T/err" || fail "static program: $(cat "$T/err")"
cmp -s "$T/out_shared.txt" "$T/out_static.txt" || fail "shared and static programs disagree"

# the README's example (the C block of "## The C library"), compiled as a user would
sed -n '/^## The C library/,/^## /p' "$SRC/README.md" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' > "$T/example.c"
[ "$(wc -l < "$T/example.c")" -ge 15 ] || fail "README example not found"
$CC -std=c11 -Wall -Werror -o "$T/example" "$T/example.c" $(pkg-config --cflags --libs bienc) 2>"$T/cc.log" ||
  fail "README example does not compile: $(cat "$T/cc.log")"
out=$(LD_LIBRARY_PATH="$T/prefix/lib" "$T/example" "$T/model.h5" 2>"$T/err") || fail "README example: $(cat "$T/err")"
[ "$out" = "a dog in the fog (1.000)" ] || fail "README example printed '$out'"
LD_LIBRARY_PATH="$T/prefix/lib" "$T/example" /nonexistent.h5 2>"$T/err" >/dev/null && fail "README example: missing model not an error"
grep -q "/nonexistent.h5" "$T/err" || fail "README example: message does not name the file: $(cat "$T/err")"

# bienc_index_save + bienc_evaluate: the hand case of tests/eval/test_metrics.c
cat > "$T/eval.c" <<'C'
#include <stdio.h>
#include <bienc/bienc.h>
int main(int argc, char **argv)
{
    bienc_metrics mt;
    if (bienc_evaluate(argv[1], argv[2], &mt) != 0) return fprintf(stderr, "%s\n", bienc_last_error()), 1;
    printf("%.4f %.4f %.4f %.4f %lld\n", mt.mrr10, mt.ndcg10, mt.map100, mt.recall10, (long long)mt.num_queries);
    if (bienc_evaluate(argv[1], "/nonexistent.trec", &mt) >= 0) return 1;
    printf("%s\n", bienc_last_error());
    const float v[4] = {1, 0, 0, 1};
    const char *names[2] = {"a", "b"};
    bienc_index *x, *y;
    int64_t id;
    float s;
    if (bienc_index_build(v, 2, 2, names, "ip", 4, 0, &x) != 0 || bienc_index_save(x, argv[3]) != 0 ||
        bienc_index_open(argv[3], &y) != 0 || bienc_search(y, v + 2, 1, 1, 0, &id, &s) != 0)
        return fprintf(stderr, "%s\n", bienc_last_error()), 1;
    printf("%s %.1f %lld\n", bienc_index_name(y, id), s, (long long)bienc_index_count(y));
    bienc_index *z = NULL;
    if (bienc_index_build(v, 2, 2, NULL, "hamming", 0, 0, &z) >= 0 || z) return 1;
    bienc_index_close(x);
    bienc_index_close(y);
    return 0;
}
C
printf 'q1 0 d1 1\nq1 0 d2 0\nq1 0 d3 1\nq1 0 d4 2\n' > "$T/q.txt"
printf 'q1 Q0 d4 4 0.6 t\nq1 Q0 d5 1 0.9 t\nq1 Q0 d1 2 0.8 t\nq1 Q0 d6 5 0.5 t\nq1 Q0 d2 3 0.7 t\n' > "$T/r.trec"
$CC -std=c11 -Wall -Werror -o "$T/eval" "$T/eval.c" $(pkg-config --cflags --libs bienc) 2>"$T/cc.log" ||
  fail "eval program does not compile: $(cat "$T/cc.log")"
LD_LIBRARY_PATH="$T/prefix/lib" "$T/eval" "$T/q.txt" "$T/r.trec" "$T/two.idx" > "$T/eval.out" 2>"$T/err" ||
  fail "eval program: $(cat "$T/err")"
[ "$(sed -n 1p "$T/eval.out")" = "0.5000 0.4766 0.3333 0.6667 1" ] || fail "bienc_evaluate: $(sed -n 1p "$T/eval.out")"
grep -q "/nonexistent.trec" "$T/eval.out" || fail "bienc_evaluate error message: $(sed -n 2p "$T/eval.out")"
[ "$(sed -n 3p "$T/eval.out")" = "b 1.0 2" ] || fail "index build/save/open/search: $(sed -n 3p "$T/eval.out")"
"$BIN" index info --index "$T/two.idx" > "$T/info.txt" 2>&1 || fail "bienc index info cannot read bienc_index_save's file: $(cat "$T/info.txt")"

# bienc_train: the same losses as `bienc train` on the same config (needs the Debian data set)
if ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 || [ -r /var/lib/dpkg/status ]; then
  "$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
  cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 8, steps: 3, seed: 3, log_every_steps: 1}
eval: {every_steps: 0, max_queries: 20, max_passages: 200}
checkpoint: {dir: $T/ckpt}
output: {dir: $T/runs, name: cli}
YAML
  cat > "$T/train.c" <<'C'
#include <stdio.h>
#include <bienc/bienc.h>
int main(int argc, char **argv)
{
    const char *sets[1] = {"output.name=lib"};
    bienc_train_summary s;
    if (bienc_train(argv[1], sets, 1, 1, &s) != 0) return fprintf(stderr, "%s\n", bienc_last_error()), 1;
    bienc_model *m;
    if (bienc_model_open(s.checkpoint, &m) != 0) return fprintf(stderr, "%s\n", bienc_last_error()), 1;
    printf("%lld %.6f %d %s\n", (long long)s.steps, s.final_loss, bienc_model_dim(m), s.run_dir);
    bienc_model_close(m);
    return bienc_train("/nonexistent.yaml", NULL, 0, 1, &s) < 0 ? 0 : 1;
}
C
  $CC -std=c11 -Wall -Werror -o "$T/train" "$T/train.c" $(pkg-config --cflags --libs bienc) 2>"$T/cc.log" ||
    fail "train program does not compile: $(cat "$T/cc.log")"
  LD_LIBRARY_PATH="$T/prefix/lib" OMP_NUM_THREADS=1 "$T/train" "$T/run.yaml" > "$T/train.out" 2>"$T/err" ||
    fail "train program: $(cat "$T/err")"
  OMP_NUM_THREADS=1 "$BIN" train "$T/run.yaml" --no-progress --quiet > /dev/null 2>"$T/err" || fail "bienc train: $(cat "$T/err")"
  read -r steps loss dim dir < "$T/train.out"
  [ "$steps" = 3 ] && [ "$dim" = 32 ] && [ "$dir" = "$T/runs/lib" ] || fail "bienc_train summary: $(cat "$T/train.out")"
  grep -o '"loss":[^,]*' "$T/runs/lib/metrics.jsonl" > "$T/loss_lib"
  grep -o '"loss":[^,]*' "$T/runs/cli/metrics.jsonl" > "$T/loss_cli"
  [ "$(wc -l < "$T/loss_lib")" = 3 ] && cmp -s "$T/loss_lib" "$T/loss_cli" ||
    fail "bienc_train and bienc train disagree: $(paste "$T/loss_lib" "$T/loss_cli" | tr '\n' ' ')"
else
  echo "note: no Debian data set here: bienc_train not checked"
fi

$PY - "$T" <<'PY' || fail "program output"
import sys, h5py, numpy as np
t = sys.argv[1]
lines = open(t + "/out_shared.txt").read().split("\n")
assert lines[0].startswith("version ") and " dim 32 normalized 1 count 5" in lines[0], lines[0]
emb = np.array([[float(v) for v in l.split()[1:]] for l in lines if l.startswith("emb")], dtype=np.float32)
hits = [l.split()[1:] for l in lines if l.startswith("hits")]
ref = h5py.File(t + "/q.h5", "r")["embeddings"][:]
assert emb.shape == ref.shape == (2, 32), (emb.shape, ref.shape)
assert np.abs(emb - ref).max() < 1e-6, np.abs(emb - ref).max()
# query 0 is passage 1's text: it must come first with cosine 1
name, score = hits[0][0].split(":")
assert name == "1" and abs(float(score) - 1) < 1e-5, hits[0]
scores = [float(h.split(":")[1]) for h in hits[1]]
assert scores == sorted(scores, reverse=True), scores
print("installed library ok:", hits[0][0], "first for query 0")
PY
echo "ok"
