/* Timing helpers shared by the benchmark drivers (wall clock, CPU time, peak RSS, median). */
#ifndef BIENC_BENCH_UTIL_H
#define BIENC_BENCH_UTIL_H

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "core/os.h"

static inline double now_s(void) { return os_now(); }

static inline double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kB on Linux */
}

/* CPU seconds (user + system) of the whole process: on a shared machine a less noisy
 * measure of the work done than the wall clock. */
static inline double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
