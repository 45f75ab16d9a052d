/* CRC-32C (Castagnoli, the CPU's crc32 instruction when there is one). */
#ifndef BIENC_CORE_CRC32C_H
#define BIENC_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data[0, n), continuing from `crc` (start with 0). */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

#endif
