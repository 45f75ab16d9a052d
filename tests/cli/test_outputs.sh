#!/bin/bash
# Outputs never destroy inputs, never leave cut-off files, and stdout errors are errors
# (issue 14, findings 1 and 3). For every command that writes a file: an output that is
# the same file as an input (same name, another spelling, a hard link) is refused with
# exit 1 and the input is left byte for byte; a failing command keeps an existing output
# and leaves no PATH.tmp; `bienc CMD > /dev/full` fails. Counts cases tried / passed.
set -u
. "$(dirname "$0")/lib.sh"
scratch outputs
retrieval_fixture
head -n 50 "$T/deb/triples.train.tsv" > "$T/tr.tsv"
ln "$T/c.tsv" "$T/c_link.tsv"

# refused CMD... : the command must fail with "same file", and INPUT must keep its bytes.
refused() {
  local input=$1; shift
  tried=$((tried + 1))
  local before; before=$(md5sum < "$input")
  if "$BIN" "$@" >/dev/null 2>"$T/err"; then bad "accepted an output that is the input $input: $*"; fi
  [ "$(md5sum < "$input")" = "$before" ] || { bad "$*: the input $input changed"; return; }
  grep -q "same file" "$T/err" || { bad "$*: message should say 'same file': $(head -c 300 "$T/err")"; return; }
  ok
}
refused "$T/c.tsv" encode --model "$M" --input "$T/c.tsv" --output "$T/c.tsv" --quiet
refused "$T/c.tsv" encode --model "$M" --input "$T/c.tsv" --output "$T/./c.tsv" --quiet
refused "$T/c.tsv" encode --model "$M" --input "$T/c.tsv" --output "$T/c_link.tsv" --quiet
refused "$M" encode --model "$M" --input "$T/c.tsv" --output "$M" --quiet
cp "$T/c.tsv" "$T/x.ids"
refused "$T/x.ids" encode --model "$M" --input "$T/x.ids" --output "$T/x" --output-format npy --format tsv --quiet
refused "$T/c.h5" index build --embeddings "$T/c.h5" --output "$T/c.h5"
refused "$T/q.h5" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --output "$T/q.h5"
refused "$T/c.idx" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --output "$T/c.idx"
refused "$T/q.tsv" search --index "$T/c.idx" --model "$M" --queries "$T/q.tsv" --output "$T/q.tsv"
refused "$T/run.trec" eval --run "$T/run.trec" --qrels "$T/qrels.tsv" --json "$T/run.trec"
refused "$T/qrels.tsv" eval --run "$T/run.trec" --qrels "$T/qrels.tsv" --json "$T/qrels.tsv"
refused "$T/run.trec" rerank --model "$M" --run "$T/run.trec" --queries "$T/q.tsv" --collection "$T/c.tsv" --output "$T/run.trec"
refused "$T/c.tsv" rerank --model "$M" --run "$T/run.trec" --queries "$T/q.tsv" --collection "$T/c.tsv" --output "$T/c.tsv"
refused "$T/tr.tsv" score --model "$M" --triples "$T/tr.tsv" --output "$T/tr.tsv"
refused "$T/c.tsv" vocab train --corpus "$T/c.tsv" --size 200 --output "$T/c.tsv"
cp "$T/run.trec" "$T/run2.trec"
refused "$T/run2.trec" fuse --run "$T/run.trec" --run "$T/run2.trec" --output "$T/run2.trec"
refused "$T/qrels.tsv" mine --run "$T/run.trec" --qrels "$T/qrels.tsv" --output "$T/qrels.tsv"
refused "$T/run.trec" mine --run "$T/run.trec" --qrels "$T/qrels.tsv" --output "$T/run.trec"
refused "$T/hf/model.safetensors" import --from "$T/hf" --output "$T/hf/model.safetensors"
refused "$T/hf/vocab.txt" import --from "$T/hf" --output "$T/hf/vocab.txt"

# a failing command keeps an existing output and leaves no temporary
kept() {
  local out=$1; shift
  tried=$((tried + 1))
  echo "old content" > "$out"
  if "$BIN" "$@" >/dev/null 2>"$T/err"; then bad "should fail: $*"; return; fi
  [ "$(cat "$out" 2>/dev/null)" = "old content" ] || { bad "$*: the existing $out was changed or removed"; return; }
  [ ! -e "$out.tmp" ] || { bad "$*: $out.tmp left behind"; return; }
  ok
}
printf 'no tab here\n' > "$T/bad.tsv"
kept "$T/e.h5" encode --model "$M" --input "$T/bad.tsv" --output "$T/e.h5" --quiet
kept "$T/e.npy" encode --model "$M" --input "$T/bad.tsv" --output "$T/e.npy" --output-format npy --quiet
tried=$((tried + 1))
[ ! -e "$T/e.npy.ids" ] && ok || bad "encode left a .ids file behind"
kept "$T/r.trec" search --index "$T/c.idx" --query-embeddings "$T/bad.tsv" --output "$T/r.trec"
kept "$T/v.txt" vocab train --corpus "$T/nonexistent" --size 200 --output "$T/v.txt"
mkdir "$T/dir"
kept "$T/e2.h5" encode --model "$M" --input "$T/dir" --output "$T/e2.h5" --quiet
tried=$((tried + 1))
if "$BIN" encode --model "$M" --input "$T/dir" --output "$T/e3.h5" --quiet 2>"$T/err"; then bad "encode --input DIR accepted"
elif grep -q "directory" "$T/err"; then ok; else bad "encode --input DIR: message should say directory: $(cat "$T/err")"; fi

# an output that is a directory is an error, not a file inside it
tried=$((tried + 1))
if "$BIN" eval --run "$T/run.trec" --qrels "$T/qrels.tsv" --json "$T/dir" >/dev/null 2>"$T/err"; then bad "eval --json DIR accepted"
elif [ -n "$(ls -A "$T/dir")" ]; then bad "eval --json DIR wrote into it"; else ok; fi

# standard output that cannot be written is a failure
if [ -w /dev/full ]; then
  for cmd in "eval --run $T/run.trec --qrels $T/qrels.tsv" "version" "config --keys" "eval --help"; do
    tried=$((tried + 1))
    # shellcheck disable=SC2086
    if "$BIN" $cmd > /dev/full 2>"$T/err"; then bad "bienc $cmd > /dev/full exited 0"
    elif grep -q "No space left" "$T/err"; then ok
    else bad "bienc $cmd > /dev/full: message should give the OS reason: $(cat "$T/err")"; fi
  done
fi
finish
