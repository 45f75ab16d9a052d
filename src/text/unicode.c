/* Lookups into the generated Unicode tables (unicode_tables.c). All tables are sorted by
 * code point, so each lookup is a binary search; the tokenizer keeps an ASCII fast path. */
#include "text/unicode.h"

uint32_t unicode_class(uint32_t cp)
{
    /* Last range whose start <= cp (ranges cover 0..U+10FFFF contiguously). */
    int lo = 0, hi = unicode_class_ranges_n - 1;
    if (cp > 0x10FFFF) return UC_CTRL;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (unicode_class_ranges[mid].start <= cp) lo = mid;
        else hi = mid - 1;
    }
    return unicode_class_ranges[lo].cls;
}

int unicode_lower(uint32_t cp, uint32_t *out)
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    for (int i = 0; i < unicode_lower_multi_n; i++)
        if (unicode_lower_multi[i].from == cp) {
            for (int k = 0; k < unicode_lower_multi[i].n; k++) out[k] = unicode_lower_multi[i].to[k];
            return unicode_lower_multi[i].n;
        }
    int lo = 0, hi = unicode_lower_simple_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t f = unicode_lower_simple[mid].from;
        if (f == cp) { out[0] = unicode_lower_simple[mid].to; return 1; }
        if (f < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    out[0] = cp;
    return 1;
}

/* Hangul syllables decompose algorithmically (Unicode 3.12). */
enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7, H_LCOUNT = 19, H_VCOUNT = 21,
       H_TCOUNT = 28, H_NCOUNT = H_VCOUNT * H_TCOUNT, H_SCOUNT = H_LCOUNT * H_NCOUNT };

int unicode_decompose(uint32_t cp, uint32_t *out)
{
    if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
        uint32_t s = cp - H_SBASE;
        out[0] = H_LBASE + s / H_NCOUNT;
        out[1] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
        if (s % H_TCOUNT == 0) return 2;
        out[2] = H_TBASE + s % H_TCOUNT;
        return 3;
    }
    int lo = 0, hi = unicode_decomps_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t c = unicode_decomps[mid].cp;
        if (c == cp) {
            for (int k = 0; k < unicode_decomps[mid].len; k++)
                out[k] = unicode_decomp_pool[unicode_decomps[mid].offset + k];
            return unicode_decomps[mid].len;
        }
        if (c < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    out[0] = cp;
    return 1;
}

int unicode_ccc(uint32_t cp)
{
    int lo = 0, hi = unicode_ccc_ranges_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < unicode_ccc_ranges[mid].lo) hi = mid - 1;
        else if (cp > unicode_ccc_ranges[mid].hi) lo = mid + 1;
        else return unicode_ccc_ranges[mid].ccc;
    }
    return 0;
}
