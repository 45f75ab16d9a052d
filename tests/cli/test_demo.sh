#!/bin/bash
# bienc demo: runs, the loss goes down, the run is reproducible from its seed, and
# bad options are usage errors (exit 2).
set -u
BIN=${BIENC_BIN:-./bienc}
fail() { echo "FAIL: $*"; exit 1; }

out1=$("$BIN" demo --steps 12 --seed 3 --threads 2) || fail "demo exited with $?: $out1"
echo "$out1"
[ "$(grep -c '^step ' <<<"$out1")" -eq 12 ] || fail "expected 12 step lines"
grep -q 'demo: loss .* -> ' <<<"$out1" || fail "no loss summary"

# Same seed and threads: the same losses, digit for digit (timings differ, so drop them).
out2=$("$BIN" demo --steps 12 --seed 3 --threads 2) || fail "second run failed"
[ "$(grep '^step' <<<"$out1" | cut -c1-24)" = "$(grep '^step' <<<"$out2" | cut -c1-24)" ] || fail "not reproducible"
out3=$("$BIN" demo --steps 12 --seed 4 --threads 2) || fail "seed 4 run failed"
[ "$(grep '^step' <<<"$out1" | cut -c1-24)" != "$(grep '^step' <<<"$out3" | cut -c1-24)" ] || fail "seed ignored"

"$BIN" demo --help | grep -q -- '--steps' || fail "--help"
"$BIN" demo --steps 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--steps 0 should be a usage error"
"$BIN" demo --hidden 30 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--hidden 30 should be a usage error"
"$BIN" demo --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should be a usage error"
echo "PASS"
