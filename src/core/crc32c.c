/* CRC-32C (Castagnoli): the checksum of index files and of checkpoint files. */
#include "core/crc32c.h"

#include <string.h>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#if !defined(__SSE4_2__)
static uint32_t crc_table[256];
static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
#if defined(__SSE4_2__)
    /* the CPU's crc32 instruction computes exactly CRC-32C */
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = (uint32_t)_mm_crc32_u64(crc, v);
    }
    for (; n; n--, p++) crc = _mm_crc32_u8(crc, *p);
#else
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        crc_table_init(); /* idempotent: concurrent first calls write the same values */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    for (; n; n--, p++) crc = crc_table[(crc ^ *p) & 0xFF] ^ (crc >> 8);
#endif
    return ~crc;
}

