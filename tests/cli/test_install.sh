#!/bin/bash
# The installed library: `cmake --install` into a temporary prefix, then a small C program
# that includes only <bienc/bienc.h> is compiled with `pkg-config bienc` (shared, and static
# against libbienc.a), run against a tiny model made with the CLI (`bienc import` of a
# test-made sentence-transformers folder) and a tiny index (`bienc encode` + `bienc index
# build`). Checks: the program's embeddings equal `bienc encode`'s, the search finds the
# passage identical to the query first with its name, and errors come back as status +
# message naming the file.
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
