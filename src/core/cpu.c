#include "core/cpu.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* OpenBLAS extensions (declared here to avoid depending on which cblas.h is found). */
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int n);

/* AMX needs three things: the CPUID bits (leaf 7: EDX bit 24 AMX-TILE, bit 22 AMX-BF16),
 * the OS saving the tile state (XCR0 bits 17 and 18) and, on Linux, the process asking
 * for the tile data state with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) before
 * its first tile instruction (otherwise that instruction faults). */
static int cpu_amx_usable(void)
{
#if defined(__x86_64__) && defined(SYS_arch_prctl)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d & (1u << 24)) || !(d & (1u << 22))) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return 0;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

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
    out->avx512_bf16 = out->avx512f && out->avx512bw && out->avx512vl && __builtin_cpu_supports("avx512bf16") != 0;
    out->avx512_vnni = out->avx512f && out->avx512bw && out->avx512vl && __builtin_cpu_supports("avx512vnni") != 0;
#endif
    out->amx_bf16 = cpu_amx_usable();
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

/* The kernel a BIENC_*_PATH variable asks for: 1 = the fast one (`fast`, which the CPU may
 * lack: have_fast), 0 = the fallback. Unset or "auto": the fast one where the CPU has it; a
 * bad value or a kernel the CPU cannot run falls back to that, with a warning. */
static int path_from_env(const char *var, const char *fast, int have_fast)
{
    const char *env = getenv(var);
    int want = have_fast;
    if (env && *env && strcmp(env, "auto") != 0) {
        if (strcmp(env, "fallback") == 0) want = 0;
        else if (strcmp(env, fast) == 0) want = 1;
        else fprintf(stderr, "bienc: warning: %s=%s is not fallback, %s or auto; using %s\n", var, env, fast,
                     have_fast ? fast : "fallback");
        if (want && !have_fast)
            fprintf(stderr, "bienc: warning: %s=%s but this CPU cannot run it; using the fallback\n", var, fast);
    }
    return want && have_fast;
}

/* -1 until the first call chooses; the choice is the same in every thread, so a race
 * between two first calls stores the same value twice. */
static int bf16_path = -1, i8_path = -1;

const char *cpu_bf16_path_name(bienc_bf16_path path)
{
    return path == BIENC_BF16_AVX512 ? "avx512_bf16" : "fallback";
}

bienc_bf16_path cpu_bf16_set_path(bienc_bf16_path path)
{
    bienc_cpu_features f;
    cpu_features(&f);
    if (path == BIENC_BF16_AVX512 && !f.avx512_bf16) path = BIENC_BF16_FALLBACK;
    __atomic_store_n(&bf16_path, (int)path, __ATOMIC_RELAXED);
    return path;
}

bienc_bf16_path cpu_bf16_path(void)
{
    int p = __atomic_load_n(&bf16_path, __ATOMIC_RELAXED);
    if (p >= 0) return (bienc_bf16_path)p;
    bienc_cpu_features f;
    cpu_features(&f);
    return cpu_bf16_set_path(path_from_env("BIENC_BF16_PATH", "avx512_bf16", f.avx512_bf16) ? BIENC_BF16_AVX512
                                                                                           : BIENC_BF16_FALLBACK);
}

const char *cpu_i8_path_name(bienc_i8_path path) { return path == BIENC_I8_AVX512_VNNI ? "avx512_vnni" : "fallback"; }

bienc_i8_path cpu_i8_set_path(bienc_i8_path path)
{
    bienc_cpu_features f;
    cpu_features(&f);
    if (path == BIENC_I8_AVX512_VNNI && !f.avx512_vnni) path = BIENC_I8_FALLBACK;
    __atomic_store_n(&i8_path, (int)path, __ATOMIC_RELAXED);
    return path;
}

bienc_i8_path cpu_i8_path(void)
{
    int p = __atomic_load_n(&i8_path, __ATOMIC_RELAXED);
    if (p >= 0) return (bienc_i8_path)p;
    bienc_cpu_features f;
    cpu_features(&f);
    return cpu_i8_set_path(path_from_env("BIENC_I8_PATH", "avx512_vnni", f.avx512_vnni) ? BIENC_I8_AVX512_VNNI
                                                                                      : BIENC_I8_FALLBACK);
}

void cpu_set_threads(int n)
{
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int cpu_get_threads(void) { return omp_get_max_threads(); }
