#!/usr/bin/env python3
"""Generates src/text/unicode_tables.c from Debian's unicode-data package.

The BERT normalizer needs, per code point: is it whitespace (Zs), a control/format/unassigned
character (C*), punctuation (P*), a non-spacing mark (Mn), a CJK ideograph; its lowercase
mapping (Python's str.lower(): UnicodeData simple mapping plus SpecialCasing's unconditional
multi-character ones); the Cased / Case_Ignorable properties (for Python's final-sigma rule);
its full canonical decomposition (NFD) and its canonical combining class.

Usage: scripts/gen_unicode_tables.py [UNICODE_DIR] > src/text/unicode_tables.c
(UNICODE_DIR defaults to /usr/share/unicode, from `apt-get install unicode-data`.)
Plain python3, no third-party modules; the output is deterministic.
"""
import os
import sys

UDIR = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"

# Bits of the class table; keep in sync with src/text/unicode.h.
WS, CTRL, PUNCT, MN, CCC, DECOMP, LOWER, CJK, CASED, CASE_IGN = (1 << i for i in range(10))

# The ranges BERT treats as CJK ideographs (tokenization_bert.py, _is_chinese_char).
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

MAXCP = 0x110000


def read_unicode_data():
    cat = {}
    ccc = {}
    decomp = {}
    lower = {}
    first = None
    with open(os.path.join(UDIR, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                first = cp
                continue
            lo = first if name.endswith(", Last>") else cp
            first = None
            for c in range(lo, cp + 1):
                cat[c] = fields[2]
                if fields[3] != "0":
                    ccc[c] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                decomp[cp] = [int(x, 16) for x in fields[5].split()]
            if fields[13]:
                lower[cp] = [int(fields[13], 16)]
    return cat, ccc, decomp, lower


def read_special_lower(lower):
    """Unconditional multi-character lowercase mappings (U+0130 -> i + combining dot)."""
    with open(os.path.join(UDIR, "SpecialCasing.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            if len(fields) > 4 and fields[4]:
                continue  # conditional (final sigma is handled in code, the rest is language-specific)
            cp = int(fields[0], 16)
            low = [int(x, 16) for x in fields[1].split()]
            if low != [cp]:
                lower[cp] = low


def read_property(filename, names):
    props = {n: set() for n in names}
    with open(os.path.join(UDIR, filename), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")[:2]]
            if prop not in props:
                continue
            if ".." in rng:
                a, b = rng.split("..")
                props[prop].update(range(int(a, 16), int(b, 16) + 1))
            else:
                props[prop].add(int(rng, 16))
    return props


def full_decomp(cp, decomp):
    if cp not in decomp:
        return [cp]
    out = []
    for c in decomp[cp]:
        out.extend(full_decomp(c, decomp))
    return out


def main():
    cat, ccc, decomp, lower = read_unicode_data()
    read_special_lower(lower)
    props = read_property("DerivedCoreProperties.txt", ["Cased", "Case_Ignorable"])
    cjk = set()
    for a, b in CJK_RANGES:
        cjk.update(range(a, b + 1))

    def cls(c):
        k = cat.get(c, "Cn")
        v = 0
        if k == "Zs":
            v |= WS
        if k.startswith("C"):
            v |= CTRL
        if k.startswith("P") or 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126:
            v |= PUNCT
        if k == "Mn":
            v |= MN
        if c in ccc:
            v |= CCC
        if c in decomp:
            v |= DECOMP
        if c in lower and lower[c] != [c]:
            v |= LOWER
        if c in cjk:
            v |= CJK
        if c in props["Cased"]:
            v |= CASED
        if c in props["Case_Ignorable"]:
            v |= CASE_IGN
        return v

    ranges = []
    prev = None
    for c in range(MAXCP):
        v = cls(c)
        if v != prev:
            ranges.append((c, v))
            prev = v

    lower_simple = sorted((c, l[0]) for c, l in lower.items() if len(l) == 1 and l[0] != c)
    lower_multi = sorted((c, l) for c, l in lower.items() if len(l) > 1)

    dec = sorted((c, full_decomp(c, decomp)) for c in decomp)
    pool = []
    dec_entries = []
    for c, seq in dec:
        dec_entries.append((c, len(pool), len(seq)))
        pool.extend(seq)
    max_dec = max(len(s) for _, s in dec)

    ccc_ranges = []
    for c in sorted(ccc):
        if ccc_ranges and ccc_ranges[-1][1] == c - 1 and ccc_ranges[-1][2] == ccc[c]:
            ccc_ranges[-1][1] = c
        else:
            ccc_ranges.append([c, c, ccc[c]])

    version = "unknown version"
    with open(os.path.join(UDIR, "DerivedCoreProperties.txt"), encoding="utf-8") as f:
        first_line = f.readline()
    if first_line.startswith("# DerivedCoreProperties-"):
        version = "Unicode " + first_line.strip()[len("# DerivedCoreProperties-"):-len(".txt")]

    w = sys.stdout.write
    w("/* GENERATED by scripts/gen_unicode_tables.py from Debian's unicode-data package\n")
    w(" * (%s). Do not edit: rerun the script. See src/text/unicode.h. */\n" % version.replace("*/", ""))
    w('#include "text/unicode.h"\n\n')
    w("const unicode_class_range unicode_class_ranges[] = {\n")
    for i in range(0, len(ranges), 6):
        w("   " + "".join(" {0x%X, 0x%X}," % r for r in ranges[i:i + 6]) + "\n")
    w("};\nconst int unicode_class_ranges_n = %d;\n\n" % len(ranges))
    w("const unicode_map unicode_lower_simple[] = {\n")
    for i in range(0, len(lower_simple), 6):
        w("   " + "".join(" {0x%X, 0x%X}," % r for r in lower_simple[i:i + 6]) + "\n")
    w("};\nconst int unicode_lower_simple_n = %d;\n\n" % len(lower_simple))
    w("const unicode_multi unicode_lower_multi[] = {\n")
    for c, l in lower_multi:
        w("    {0x%X, %d, {%s}},\n" % (c, len(l), ", ".join("0x%X" % x for x in l)))
    w("};\nconst int unicode_lower_multi_n = %d;\n\n" % len(lower_multi))
    w("/* Full (recursively expanded) canonical decompositions; at most %d code points. */\n" % max_dec)
    w("const unicode_decomp unicode_decomps[] = {\n")
    for i in range(0, len(dec_entries), 5):
        w("   " + "".join(" {0x%X, %d, %d}," % e for e in dec_entries[i:i + 5]) + "\n")
    w("};\nconst int unicode_decomps_n = %d;\n\n" % len(dec_entries))
    w("const uint32_t unicode_decomp_pool[] = {\n")
    for i in range(0, len(pool), 10):
        w("   " + "".join(" 0x%X," % x for x in pool[i:i + 10]) + "\n")
    w("};\n\n")
    w("const unicode_ccc_range unicode_ccc_ranges[] = {\n")
    for i in range(0, len(ccc_ranges), 5):
        w("   " + "".join(" {0x%X, 0x%X, %d}," % tuple(r) for r in ccc_ranges[i:i + 5]) + "\n")
    w("};\nconst int unicode_ccc_ranges_n = %d;\n" % len(ccc_ranges))
    if max_dec > 4:
        sys.exit("decomposition longer than UNICODE_MAX_DECOMP (4): %d" % max_dec)


if __name__ == "__main__":
    main()
