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
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512_bf16;
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

/* Worker threads for OpenMP regions and BLAS; n <= 0 leaves the default. */
void cpu_set_threads(int n);
int cpu_get_threads(void);

#endif
