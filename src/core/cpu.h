/* CPU features and the choice of OpenBLAS kernel.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent Intel CPUs (Sapphire Rapids) and
 * falls back to its Prescott kernels, 5x below the AVX-512 peak. OpenBLAS reads
 * OPENBLAS_CORETYPE once, when the library is loaded, before main() runs; so the bienc
 * executable checks at start-up and, when the variable is unset and the loaded kernel
 * is a slow fallback on a CPU that can do better, sets it and re-executes itself.
 * Programs linking libbienc can call cpu_blas_fix_and_reexec() first thing in main(),
 * or set OPENBLAS_CORETYPE themselves. BIENC_BLAS_CORETYPE overrides the choice;
 * BIENC_BLAS_CORETYPE=keep leaves OpenBLAS alone. */
#ifndef BIENC_CPU_H
#define BIENC_CPU_H

typedef struct bienc_cpu_features {
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512_bf16, avx512_vnni;
    int amx_bf16;      /* CPUID says AMX-TILE + AMX-BF16 and the kernel granted the tile state */
} bienc_cpu_features;

void cpu_features(bienc_cpu_features *out);

/* The kernel OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", ...). */
const char *cpu_blas_corename(void);

/* The core type bienc wants for this CPU, or NULL to leave OpenBLAS's own choice. */
const char *cpu_blas_preferred_coretype(void);

/* If OpenBLAS runs a slower kernel than this CPU supports and the user has not set
 * OPENBLAS_CORETYPE, sets it and re-executes /proc/self/exe with the same argv.
 * Returns only when no re-exec was needed (or it failed: then a warning is printed and
 * the program continues on the slow kernel). */
void cpu_blas_fix_and_reexec(char **argv);

/* Which kernel runs the bf16 matmuls (src/ops/gemm_bf16.c). Chosen once, at first use:
 *   BIENC_BF16_AVX512   vdpbf16ps (AVX512_BF16: Zen 4, Cooper Lake, Sapphire Rapids)
 *   BIENC_BF16_FALLBACK bf16-rounded inputs multiplied by OpenBLAS's sgemm: the same
 *                       products (a product of two bf16 values is exact in fp32), only the
 *                       order of the fp32 additions differs; runs on any CPU.
 * There is no AMX kernel yet: it could not be tested on the machines that have none, so
 * a CPU with AMX runs the AVX512_BF16 kernel (AMX is only reported, by cpu_features).
 * BIENC_BF16_PATH=fallback | avx512_bf16 | auto (the default) forces a path; a path the
 * CPU cannot run falls back, with a warning on stderr. */
typedef enum { BIENC_BF16_FALLBACK = 0, BIENC_BF16_AVX512 = 1 } bienc_bf16_path;

bienc_bf16_path cpu_bf16_path(void);
const char *cpu_bf16_path_name(bienc_bf16_path path);
/* For tests: choose the path (a path the CPU cannot run becomes the fallback); returns
 * the path now in force. */
bienc_bf16_path cpu_bf16_set_path(bienc_bf16_path path);

/* Which kernel runs the int8 products of inference (src/ops/gemm_i8.c), chosen the same
 * way (BIENC_I8_PATH=fallback | avx512_vnni | auto):
 *   BIENC_I8_AVX512_VNNI vpdpbusd (AVX512_VNNI: Zen 4, Ice Lake, Sapphire Rapids)
 *   BIENC_I8_FALLBACK    plain C, the same bits, slower; runs on any CPU. */
typedef enum { BIENC_I8_FALLBACK = 0, BIENC_I8_AVX512_VNNI = 1 } bienc_i8_path;

bienc_i8_path cpu_i8_path(void);
const char *cpu_i8_path_name(bienc_i8_path path);
bienc_i8_path cpu_i8_set_path(bienc_i8_path path);

/* Worker threads for OpenMP regions and BLAS; n <= 0 leaves the default. */
void cpu_set_threads(int n);
int cpu_get_threads(void);

#endif
