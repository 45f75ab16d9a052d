/* UTF-8 decoding and encoding. Decoding is strict (no overlongs, surrogates or code points
 * past U+10FFFF) and total: any byte sequence decodes, invalid parts to U+FFFD. */
#include "text/unicode.h"

/* Valid second-byte range for each lead byte (Unicode Table 3-7), so that overlongs and
 * surrogates are rejected at the second byte, which makes the "maximal subpart" rule
 * fall out naturally. */
static int lead_info(unsigned char b, int *need, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80; *hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) { *need = 1; return 1; }
    if (b == 0xE0) { *need = 2; *lo = 0xA0; return 1; }
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) { *need = 2; return 1; }
    if (b == 0xED) { *need = 2; *hi = 0x9F; return 1; }
    if (b == 0xF0) { *need = 3; *lo = 0x90; return 1; }
    if (b >= 0xF1 && b <= 0xF3) { *need = 3; return 1; }
    if (b == 0xF4) { *need = 3; *hi = 0x8F; return 1; }
    return 0;
}

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    int need;
    unsigned char lo, hi;
    if (!lead_info(b, &need, &lo, &hi)) { *cp = 0xFFFD; return 1; }
    uint32_t c = b & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07);
    size_t i = 1;
    for (int k = 0; k < need; k++, i++) {
        if (i >= len) { *cp = 0xFFFD; return i; }
        unsigned char x = s[i];
        if (x < lo || x > hi) { *cp = 0xFFFD; return i; }
        lo = 0x80; hi = 0xBF;
        c = (c << 6) | (x & 0x3F);
    }
    *cp = c;
    return i;
}

int utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F); o[2] = 0x80 | ((cp >> 6) & 0x3F);
    o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { i++; continue; }
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        /* A real U+FFFD in the text is 3 bytes; a replacement for junk never is at this lead. */
        if (cp == 0xFFFD && !(n == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] == 0xBD)) return 0;
        i += n;
    }
    return 1;
}
