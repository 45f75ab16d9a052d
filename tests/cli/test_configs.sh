#!/bin/bash
# Every shipped config in configs/ validates with `bienc config check`; the effective
# config it prints loads back to the same config; errors carry file:line:column and the
# exit codes are the documented ones (0 ok, 1 invalid, 2 usage).
set -u
BIN=${BIENC_BIN:-build/bienc}
SRC=${BIENC_SOURCE_DIR:-.}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

n=0
for f in "$SRC"/configs/*.yaml; do
    n=$((n + 1))
    name=$(basename "$f")
    if ! "$BIN" config check "$f" > "$TMP/eff.yaml" 2> "$TMP/err"; then
        fail "$name does not validate: $(cat "$TMP/err")"
        continue
    fi
    # the effective config round-trips: check it again, same output
    if ! "$BIN" config check "$TMP/eff.yaml" > "$TMP/eff2.yaml" 2> "$TMP/err"; then
        fail "$name: the effective config does not load back: $(cat "$TMP/err")"
    elif ! cmp -s "$TMP/eff.yaml" "$TMP/eff2.yaml"; then
        fail "$name: effective config changes when reloaded"; diff "$TMP/eff.yaml" "$TMP/eff2.yaml" | head
    fi
    echo "ok: $name ($(grep -c ':' "$TMP/eff.yaml") lines of effective config)"
done
[ "$n" -ge 4 ] || fail "expected at least 4 configs in $SRC/configs, found $n"
for want in quickstart msmarco-mnrl msmarco-triplet minilm-l6; do
    [ -f "$SRC/configs/$want.yaml" ] || fail "configs/$want.yaml is missing"
done

# What the shipped configs promise.
q=$("$BIN" config check "$SRC/configs/quickstart.yaml" 2>/dev/null)
grep -q '^  hidden: 128$' <<<"$q" || fail "quickstart is not the small model (hidden 128)"
grep -q '^  format: debian$' <<<"$q" || fail "quickstart does not use the built-in Debian data"
grep -q '^  vocab: ""$' <<<"$q" || fail "quickstart should train its vocabulary"
m=$("$BIN" config check "$SRC/configs/minilm-l6.yaml" 2>/dev/null)
for kv in 'hidden: 384' 'layers: 6' 'heads: 12' 'intermediate: 1536' 'vocab_size: 30522'; do
    grep -q "^  $kv\$" <<<"$m" || fail "minilm-l6: expected '$kv'"
done
"$BIN" config check "$SRC/configs/msmarco-triplet.yaml" 2>/dev/null | grep -q '^  name: TripletLoss$' || fail "msmarco-triplet: not TripletLoss"

# --set overrides any key, with the same checks.
"$BIN" config check "$SRC/configs/quickstart.yaml" --set optim.lr=5e-5 --set eval.k=[1,10] > "$TMP/o.yaml" 2>/dev/null \
    || fail "--set on quickstart failed"
grep -q '^  lr: 5e-05$' "$TMP/o.yaml" || fail "--set optim.lr not applied"
grep -q '^  k: \[1, 10\]$' "$TMP/o.yaml" || fail "--set eval.k not applied"
"$BIN" config check "$SRC/configs/quickstart.yaml" --set train.lr=abc > /dev/null 2> "$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "--set train.lr=abc: exit $rc, want 1"
grep -q "key 'optim.lr' expects a number" "$TMP/err" || fail "--set error does not name the key: $(cat "$TMP/err")"

# Bad files: exit 1 with file:line:column.
printf 'model:\n  size: tiny\ntrain:\n  batch_size: lots\n' > "$TMP/bad.yaml"
"$BIN" config check "$TMP/bad.yaml" > /dev/null 2> "$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "bad type: exit $rc, want 1"
grep -q "bad.yaml:4:15: key 'train.batch_size' expects an integer" "$TMP/err" || fail "bad type message: $(cat "$TMP/err")"
printf 'model:\n  sise: tiny\n' > "$TMP/bad.yaml"
"$BIN" config check "$TMP/bad.yaml" > /dev/null 2> "$TMP/err"
grep -q "bad.yaml:2:3: unknown key 'model.sise' (did you mean 'model.size'?)" "$TMP/err" || fail "unknown key message: $(cat "$TMP/err")"

# Usage errors exit 2; --keys lists every key.
"$BIN" config > /dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || fail "bare 'config': exit $rc, want 2"
"$BIN" config check > /dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || fail "'config check' without file: exit $rc, want 2"
"$BIN" config --help | grep -q 'usage: bienc config' || fail "--help"
keys=$("$BIN" config --keys | wc -l)
[ "$keys" -gt 80 ] || fail "--keys printed $keys lines"
"$BIN" config --keys --markdown | grep -q '^| `optim.lr` | float' || fail "--keys --markdown lacks optim.lr"

if [ $fails -gt 0 ]; then echo "test_configs: $fails failure(s)"; exit 1; fi
echo "test_configs: $n configs valid, all checks passed"
