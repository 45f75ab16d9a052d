#include "bienc/cpu.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS extensions (declared here to avoid depending on which cblas.h is found). */
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int n);

void cpu_features(bienc_cpu_features *out)
{
    memset(out, 0, sizeof *out);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    out->avx2 = __builtin_cpu_supports("avx2") != 0;
    out->fma = __builtin_cpu_supports("fma") != 0;
    out->avx512f = __builtin_cpu_supports("avx512f") != 0;
    out->avx512bw = __builtin_cpu_supports("avx512bw") != 0;
    out->avx512vl = __builtin_cpu_supports("avx512vl") != 0;
#endif
}

const char *cpu_blas_corename(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

const char *cpu_blas_preferred_coretype(void)
{
    bienc_cpu_features f;
    cpu_features(&f);
    if (f.avx512f && f.avx512bw && f.avx512vl) return "SkylakeX";
    if (f.avx2 && f.fma) return "Haswell";
    return NULL;
}

/* Kernels that are a sign OpenBLAS did not recognise the CPU. */
static int is_fallback_core(const char *name)
{
    static const char *slow[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge",
                                 "Atom", "Katmai", "Coppermine", "Northwood", "Banias", "unknown"};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++)
        if (strcasecmp(name, slow[i]) == 0) return 1;
    return 0;
}

void cpu_blas_fix_and_reexec(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user (or our earlier self) chose */
    const char *want = getenv("BIENC_BLAS_CORETYPE");
    if (want && strcmp(want, "keep") == 0) return;
    if (!want || !*want) {
        if (!is_fallback_core(cpu_blas_corename())) return;
        want = cpu_blas_preferred_coretype();
        if (!want) return;
    }
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "bienc: warning: could not re-execute with OPENBLAS_CORETYPE=%s; "
                    "BLAS runs the slow %s kernel\n", want, cpu_blas_corename());
}

void cpu_set_threads(int n)
{
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int cpu_get_threads(void) { return omp_get_max_threads(); }
