#!/bin/bash
# A full disk never crashes bienc nor leaves a cut-off file (issue 14, findings 2 and 3).
# A small tmpfs is filled up to leave a few sizes of free room; then checkpoint saves
# (train), import, encode, index build, search, eval --json, vocab train and data debian
# must each exit 1 with the OS reason ("No space left on device"), never crash (HDF5 1.10
# segfaulted closing a file whose flush failed), keep an existing output byte for byte and
# leave no PATH.tmp. Needs root and mount(2): otherwise exit 77 (Skipped).
set -u
. "$(dirname "$0")/lib.sh"
scratch full_disk
D="$T/disk"
mkdir "$D"
trap 'umount "$D" 2>/dev/null; rm -rf "$T"' EXIT
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=4m tmpfs "$D" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root and mount permission)"
  exit 77
fi
retrieval_fixture

echo "old content" > "$T/old"
# fill FREE: leaves about FREE bytes free on the tmpfs
fill() {
  rm -f "$D/fill"
  dd if=/dev/zero of="$D/fill" bs=4096 >/dev/null 2>&1
  local size; size=$(stat -c %s "$D/fill")
  if [ "$1" -gt 0 ]; then truncate -s $((size > $1 ? size - $1 : 0)) "$D/fill"; fi
}
# full FREE OUT CMD...: with FREE bytes free, CMD (writing OUT) must either succeed (when it
# fits: OUT is then whole, the same bytes as on a roomy disk for text outputs) or fail with
# exit 1, the OS reason, OUT as it was and no temporary left
full() {
  local free=$1 out=$2; shift 2
  tried=$((tried + 1))
  rm -f "$D/fill"
  cp "$T/old" "$out"
  fill "$free"
  "$BIN" "$@" >/dev/null 2>"$T/err"
  local rc=$?
  if [ $rc -eq 0 ]; then
    rm -f "$D/fill"
    local ref="$T/ref.${out##*/}"
    case "$out" in
      *.h5|*.npy|*.idx) ! cmp -s "$out" "$T/old" || { bad "free $free: $*: exit 0, output not written"; return; } ;;
      *) "$BIN" "${@/$out/$ref}" >/dev/null 2>&1; cmp -s "$out" "$ref" || { bad "free $free: $*: exit 0 but the output differs from a roomy disk's"; return; } ;;
    esac
    passed=$((passed + 1)); return
  fi
  if [ $rc -ne 1 ]; then bad "free $free: exit $rc (want 1): $* : $(head -c 300 "$T/err")"; return; fi
  grep -q "No space left" "$T/err" || { bad "free $free: $*: message should give the OS reason: $(head -c 300 "$T/err")"; return; }
  cmp -s "$out" "$T/old" || { bad "free $free: $*: the existing $out was changed or removed"; return; }
  [ -z "$(ls "$D" | grep '\.tmp$')" ] || { bad "free $free: $*: a temporary was left behind: $(ls "$D")"; return; }
  passed=$((passed + 1))
}
for free in 0 8192 65536 131072 200000 400000; do
  full $free "$D/e.h5" encode --model "$M" --input "$T/c.tsv" --output "$D/e.h5" --quiet
  full $free "$D/e.npy" encode --model "$M" --input "$T/c.tsv" --output "$D/e.npy" --output-format npy --quiet
  full $free "$D/c.idx" index build --embeddings "$T/c.h5" --output "$D/c.idx"
  full $free "$D/r.trec" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --k 100 --output "$D/r.trec"
  full $free "$D/m.json" eval --run "$T/run.trec" --qrels "$T/qrels.tsv" --json "$D/m.json" --per-query
  full $free "$D/v.txt" vocab train --corpus "$T/c.tsv" --size 1000 --output "$D/v.txt"
  full $free "$D/m.h5" import --from "$T/hf" --output "$D/m.h5"
done

# data debian into a full directory: no cut-off collection.tsv
for free in 0 65536 1000000; do
  tried=$((tried + 1))
  rm -rf "$D/deb"; fill $free
  "$BIN" data debian --output "$D/deb" >/dev/null 2>"$T/err"
  rc=$?
  if [ $rc -ne 1 ]; then bad "data debian, free $free: exit $rc: $(head -c 300 "$T/err")"
  elif [ -e "$D/deb/collection.tsv" ] && ! cmp -s "$D/deb/collection.tsv" "$T/deb/collection.tsv"; then
    bad "data debian, free $free: a cut-off collection.tsv was left"
  elif ls "$D/deb" 2>/dev/null | grep -q '\.tmp$'; then bad "data debian, free $free: a temporary was left"
  else passed=$((passed + 1)); fi
done

# checkpoint saves during training: exit 1 with the reason, never a crash, no step file
tiny_config 2 "$D/ckpt" o > "$T/full.yaml"
for free in 0 4096 16384 65536 70000 131072 262144 524288 786432; do
  tried=$((tried + 1))
  rm -rf "$D/ckpt" "$T/runs"; fill $free
  "$BIN" train "$T/full.yaml" --no-progress --no-eval-at-start --eval-passages 200 >/dev/null 2>"$T/err"
  rc=$?
  if [ $rc -ne 1 ]; then bad "train, free $free: exit $rc (want 1): $(tail -c 300 "$T/err")"
  elif ! grep -q "No space left" "$T/err"; then bad "train, free $free: no OS reason: $(tail -c 300 "$T/err")"
  elif ls "$D/ckpt/o" 2>/dev/null | grep -q .; then bad "train, free $free: left $(ls "$D/ckpt/o")"
  else passed=$((passed + 1)); fi
done
rm -f "$D/fill"
finish
