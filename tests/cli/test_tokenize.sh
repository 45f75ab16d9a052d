#!/bin/bash
# bienc tokenize / bienc vocab train end to end:
#  - a few lines with known ids (the Hugging Face reference values, when the shared BERT vocab is present)
#  - an independent Python oracle (tests/text/bert_oracle.py) on random hard lines, with a vocabulary
#    trained by `bienc vocab train` (self-contained) and with the BERT vocab (shared data)
#  - vocab training: deterministic, specials first, no [UNK] on its own training text
#  - errors: usage errors exit 2, bad files exit 1 with a message naming the file
set -u
BIN=${BIENC_BIN:-./bienc}
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check_eq() { # name got want
    if [ "$2" != "$3" ]; then fail "$1: got '$2', want '$3'"; else echo "ok: $1"; fi
}

# ---- vocabulary training on generated hard lines (self-contained) ----
$PY "$SRC/tests/text/gen_hard_lines.py" 11 1500 > "$T/hard.txt" || fail "generating hard lines"
$BIN vocab train --corpus "$T/hard.txt" --size 3000 --output "$T/v1.txt" 2> "$T/train.err" || fail "vocab train: $(cat "$T/train.err")"
$BIN vocab train --corpus "$T/hard.txt" --size 3000 --output "$T/v2.txt" 2> /dev/null
cmp -s "$T/v1.txt" "$T/v2.txt" && echo "ok: vocab train is deterministic" || fail "vocab train differs between runs"
check_eq "specials first" "$(head -5 "$T/v1.txt" | tr '\n' ' ')" "[PAD] [UNK] [CLS] [SEP] [MASK] "
n=$(wc -l < "$T/v1.txt")
[ "$n" -le 3000 ] && [ "$n" -gt 1000 ] && echo "ok: vocab size $n" || fail "vocab size $n"
# Every character of the training text is in the alphabet, so no word (up to 100 chars) is [UNK].
unk=$($BIN tokenize --vocab "$T/v1.txt" --no-special --tokens < "$T/hard.txt" | tr ' ' '\n' | grep -c '^\[UNK\]$')
words_over_100=$(tr ' \t' '\n\n' < "$T/hard.txt" | awk 'length($0) > 100' | wc -l)
[ "$unk" -le "$words_over_100" ] && echo "ok: $unk [UNK] on training text (<= $words_over_100 long words)" \
    || fail "$unk [UNK] on the training text"

# ---- oracle comparison with the trained vocabulary (self-contained) ----
$PY "$SRC/tests/text/gen_hard_lines.py" 12 1500 > "$T/hard2.txt"
for mode in lower cased; do
    flag=""; oflag=""
    [ $mode = cased ] && { flag="--no-lower-case"; oflag="cased"; }
    $PY "$SRC/tests/text/bert_oracle.py" "$T/v1.txt" $oflag < "$T/hard2.txt" > "$T/oracle.txt"
    $BIN tokenize --vocab "$T/v1.txt" --no-special $flag < "$T/hard2.txt" > "$T/ours.txt"
    if cmp -s "$T/oracle.txt" "$T/ours.txt"; then echo "ok: oracle agrees on 1500 hard lines ($mode)"
    else fail "oracle differs ($mode), first difference:"; diff "$T/oracle.txt" "$T/ours.txt" | head -4; fi
done

# ---- CLI behaviour with a tiny vocabulary ----
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n!\n,\nun\n##want\n##ed\n' > "$T/tiny.txt"
check_eq "ids" "$(printf 'Hello, World!\n' | $BIN tokenize --vocab "$T/tiny.txt")" "2 5 8 6 7 3"
check_eq "no special" "$(printf 'unwanted\n' | $BIN tokenize --vocab "$T/tiny.txt" --no-special)" "9 10 11"
check_eq "tokens" "$(printf 'UNwantéd x\n' | $BIN tokenize --vocab "$T/tiny.txt" --tokens)" "[CLS] un ##want ##ed [UNK] [SEP]"
check_eq "pair" "$(printf 'hello\tworld !\n' | $BIN tokenize --vocab "$T/tiny.txt" --pair)" "2 5 3 6 7 3"
check_eq "pair truncation" "$(printf 'hello hello hello\tworld world\n' | $BIN tokenize --vocab "$T/tiny.txt" --pair --max-length 6)" "2 5 5 3 6 3"
check_eq "max length" "$(printf 'hello world hello world\n' | $BIN tokenize --vocab "$T/tiny.txt" --max-length 4)" "2 5 6 3"
check_eq "empty line" "$(printf '\n\n' | $BIN tokenize --vocab "$T/tiny.txt" | tr '\n' '|')" "2 3|2 3|"
check_eq "cased" "$(printf 'Hello hello\n' | $BIN tokenize --vocab "$T/tiny.txt" --no-lower-case --no-special)" "1 5"
check_eq "raw special token" "$(printf 'hello [SEP] world\n' | $BIN tokenize --vocab "$T/tiny.txt" --no-special)" "5 3 6"
check_eq "invalid utf-8 dropped" "$(printf 'hel\xfflo wor\xc3ld\n' | $BIN tokenize --vocab "$T/tiny.txt" --no-special)" "5 6"

# ---- errors ----
$BIN tokenize < /dev/null > /dev/null 2>&1; check_eq "missing --vocab exits 2" "$?" "2"
$BIN tokenize --vocab "$T/tiny.txt" --bogus < /dev/null > /dev/null 2>&1; check_eq "unknown flag exits 2" "$?" "2"
$BIN tokenize --vocab "$T/nope.txt" < /dev/null > /dev/null 2> "$T/err"; check_eq "missing file exits 1" "$?" "1"
grep -q "nope.txt" "$T/err" && echo "ok: message names the file" || fail "message: $(cat "$T/err")"
printf '[UNK]\nhello\nhello\n' > "$T/dup.txt"
$BIN tokenize --vocab "$T/dup.txt" < /dev/null > /dev/null 2> "$T/err"; check_eq "duplicate token exits 1" "$?" "1"
grep -q "dup.txt line 3" "$T/err" && echo "ok: duplicate named by line" || fail "message: $(cat "$T/err")"
printf 'x\ty\n' | $BIN tokenize --vocab "$T/tiny.txt" --pair > /dev/null 2>&1; check_eq "pair ok" "$?" "0"
printf 'no tab\n' | $BIN tokenize --vocab "$T/tiny.txt" --pair > /dev/null 2> "$T/err"; check_eq "pair without tab exits 1" "$?" "1"
grep -q "line 1" "$T/err" && echo "ok: pair error names the line" || fail "message: $(cat "$T/err")"
$BIN vocab train --corpus "$T/nope.txt" --size 100 --output "$T/o.txt" 2> /dev/null; check_eq "vocab train missing corpus exits 1" "$?" "1"
$BIN vocab train --size 100 2> /dev/null; check_eq "vocab train usage exits 2" "$?" "2"

# ---- the committed Unicode tables are what the generator makes from Debian's unicode-data ----
if [ -f /usr/share/unicode/UnicodeData.txt ] && [ -f /usr/share/unicode/SpecialCasing.txt ]; then
    $PY "$SRC/scripts/gen_unicode_tables.py" > "$T/tables.c"
    cmp -s "$T/tables.c" "$SRC/src/text/unicode_tables.c" && echo "ok: unicode_tables.c is up to date" \
        || fail "src/text/unicode_tables.c differs from scripts/gen_unicode_tables.py output (unicode-data updated?)"
else
    echo "SKIP: unicode-data not installed: generated-table check skipped"
fi

# ---- the Hugging Face reference values and the oracle with BERT's vocabulary (shared data) ----
D=${BIENC_SHARED_DATA:-}
if [ -n "$D" ] && [ -f "$D/bert-base-uncased/vocab.txt" ]; then
    V="$D/bert-base-uncased/vocab.txt"
    check_eq "bert ids" "$(printf 'How are you doing?\nUNwantéd,running\n' | $BIN tokenize --vocab "$V" | tr '\n' '|')" \
        "101 2129 2024 2017 2725 1029 102|101 18162 1010 2770 102|"
    check_eq "bert tokenizer.json" "$(printf 'ah博推zz\n' | $BIN tokenize --vocab "$D/bert-base-uncased/tokenizer.json" --tokens --no-special)" \
        "ah 博 [UNK] z ##z"
    $PY "$SRC/tests/text/gen_hard_lines.py" 13 1500 > "$T/hard3.txt"
    cut -f2 "$D/msmarco-dl19/collection.tsv" | head -3000 >> "$T/hard3.txt"
    $PY "$SRC/tests/text/bert_oracle.py" "$V" < "$T/hard3.txt" > "$T/oracle.txt"
    $BIN tokenize --vocab "$V" --no-special < "$T/hard3.txt" > "$T/ours.txt"
    cmp -s "$T/oracle.txt" "$T/ours.txt" && echo "ok: oracle agrees with BERT vocab on 4500 lines" \
        || { fail "oracle differs with BERT vocab:"; diff "$T/oracle.txt" "$T/ours.txt" | head -4; }
else
    echo "SKIP: \$BIENC_SHARED_DATA/bert-base-uncased not found: reference-vocabulary checks skipped"
fi

[ $fails -eq 0 ] && echo "all tokenize CLI tests passed" || echo "$fails failure(s)"
[ $fails -eq 0 ]
