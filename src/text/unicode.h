/* Unicode properties the BERT normalizer needs, from the generated unicode_tables.c
 * (scripts/gen_unicode_tables.py) plus UTF-8 decoding. Internal to src/text. */
#ifndef BIENC_TEXT_UNICODE_H
#define BIENC_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits (keep in sync with the generator). */
enum {
    UC_WS = 1 << 0,        /* Zs: whitespace for BERT (besides \t \n \r) */
    UC_CTRL = 1 << 1,      /* C* (Cc Cf Co Cs Cn): dropped by BERT's clean-up */
    UC_PUNCT = 1 << 2,     /* P* or ASCII punctuation/symbols: split into own word */
    UC_MN = 1 << 3,        /* Mn: dropped after NFD when stripping accents */
    UC_CCC = 1 << 4,       /* canonical combining class != 0 */
    UC_DECOMP = 1 << 5,    /* has a canonical decomposition */
    UC_LOWER = 1 << 6,     /* str.lower() changes it */
    UC_CJK = 1 << 7,       /* CJK ideograph in BERT's ranges: split into own word */
    UC_CASED = 1 << 8,     /* Cased (final sigma rule) */
    UC_CASE_IGN = 1 << 9   /* Case_Ignorable (final sigma rule) */
};

#define UNICODE_MAX_DECOMP 4   /* longest full canonical decomposition */
#define UNICODE_MAX_LOWER 3    /* longest lowercase expansion */

typedef struct unicode_class_range { uint32_t start; uint32_t cls; } unicode_class_range; /* cls holds for [start, next start) */
typedef struct unicode_map { uint32_t from, to; } unicode_map;
typedef struct unicode_multi { uint32_t from; int n; uint32_t to[UNICODE_MAX_LOWER]; } unicode_multi;
typedef struct unicode_decomp { uint32_t cp; uint16_t offset; uint8_t len; } unicode_decomp;
typedef struct unicode_ccc_range { uint32_t lo, hi; uint8_t ccc; } unicode_ccc_range;

extern const unicode_class_range unicode_class_ranges[];
extern const int unicode_class_ranges_n;
extern const unicode_map unicode_lower_simple[];
extern const int unicode_lower_simple_n;
extern const unicode_multi unicode_lower_multi[];
extern const int unicode_lower_multi_n;
extern const unicode_decomp unicode_decomps[];
extern const int unicode_decomps_n;
extern const uint32_t unicode_decomp_pool[];
extern const unicode_ccc_range unicode_ccc_ranges[];
extern const int unicode_ccc_ranges_n;

/* UC_* bits of a code point (binary search; callers keep an ASCII fast path). */
uint32_t unicode_class(uint32_t cp);
/* Lowercase of cp into out (Python str.lower(), without the final-sigma context, which the
 * caller handles); returns the number of code points (1..UNICODE_MAX_LOWER). */
int unicode_lower(uint32_t cp, uint32_t *out);
/* Full canonical decomposition (NFD of one code point, Hangul included) into out; returns
 * the count (1 when cp does not decompose). */
int unicode_decompose(uint32_t cp, uint32_t *out);
/* Canonical combining class (0 for starters). */
int unicode_ccc(uint32_t cp);

/* Decodes one code point from s[0..len) (len >= 1). Invalid or truncated sequences (overlong,
 * surrogates, > U+10FFFF, stray continuation bytes) yield U+FFFD and consume the maximal
 * invalid subpart (at least one byte), as the Unicode standard recommends. Returns the
 * number of bytes consumed. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Encodes cp (<= U+10FFFF) into out (4 bytes room); returns the byte count. */
int utf8_encode(uint32_t cp, char *out);
/* 1 when s[0..len) is valid UTF-8. */
int utf8_valid(const char *s, size_t len);

#endif
