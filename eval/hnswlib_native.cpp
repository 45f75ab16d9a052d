// Native hnswlib (Debian's header-only libhnswlib-dev) built with -O3 -march=native:
// the same protocol as eval/bench_hnsw.c, for a side-by-side comparison.
// Build: g++ -O3 -march=native -fopenmp -I/usr/include eval/hnswlib_native.cpp -o hnswlib_native
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double thread_cpu()
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static long rss_kb()
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
    if (f) fclose(f);
    return v;
}

template <class T> static std::vector<T> load(const char *path, size_t count)
{
    std::vector<T> v(count);
    FILE *f = fopen(path, "rb");
    if (!f || fread(v.data(), sizeof(T), count, f) != count) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return v;
}

static std::vector<int> csv(const char *s)
{
    std::vector<int> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(atoi(item.c_str()));
    return out;
}

int main(int argc, char **argv)
{
    if (argc < 12) {
        fprintf(stderr, "usage: %s base.f32 N dim queries.f32 NQ gt.i32 K M efc build_threads efs [threads] [repeats]\n",
                argv[0]);
        return 2;
    }
    size_t n = atol(argv[2]), nq = atol(argv[5]);
    int dim = atoi(argv[3]), k = atoi(argv[7]), M = atoi(argv[8]), efc = atoi(argv[9]), bt = atoi(argv[10]);
    std::vector<int> efs = csv(argv[11]), sts = csv(argc > 12 ? argv[12] : "1,2");
    int repeats = argc > 13 ? atoi(argv[13]) : 3;
    std::vector<float> x = load<float>(argv[1], n * dim), q = load<float>(argv[4], nq * dim);
    std::vector<int> gt = load<int>(argv[6], nq * k);

    hnswlib::InnerProductSpace space(dim);
    long rss0 = rss_kb();
    double t0 = now();
    const char *save = argc > 14 ? argv[14] : nullptr;
    hnswlib::HierarchicalNSW<float> *h;
    FILE *probe = save ? fopen(save, "rb") : nullptr;
    bool loaded = probe != nullptr;
    if (probe) { /* reuse a saved index (search-only reruns) */
        fclose(probe);
        h = new hnswlib::HierarchicalNSW<float>(&space, save, false, n);
    } else {
        h = new hnswlib::HierarchicalNSW<float>(&space, n, M, efc, 100);
        h->addPoint(x.data(), 0);
#pragma omp parallel for num_threads(bt) schedule(dynamic, 16)
        for (long i = 1; i < (long)n; i++) h->addPoint(x.data() + (size_t)i * dim, (size_t)i);
    }
    double build = now() - t0;
    long rss1 = rss_kb();
    if (save && !loaded) h->saveIndex(save);
    printf("{\"lib\": \"hnswlib-native\", \"%s\": %.3f, \"build_threads\": %d, \"rss_mb\": %.1f}\n",
           loaded ? "load_s" : "build_s", build, bt,
           (rss1 - rss0) / 1024.0);
    fflush(stdout);

    std::vector<long> ids(nq * k);
    for (int threads : sts) {
        for (int ef : efs) {
            h->setEf(std::max(ef, k));
            std::vector<double> times, cpu;
            for (int r = 0; r <= repeats; r++) {
                double s = now(), c = thread_cpu();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
                for (long i = 0; i < (long)nq; i++) {
                    auto res = h->searchKnn(q.data() + (size_t)i * dim, k);
                    for (int j = k - 1; j >= 0 && !res.empty(); j--) {
                        ids[i * k + j] = (long)res.top().second;
                        res.pop();
                    }
                }
                if (r > 0) { /* r == 0 is the warm-up */
                    times.push_back(now() - s);
                    cpu.push_back(thread_cpu() - c);
                }
            }
            std::sort(times.begin(), times.end());
            std::sort(cpu.begin(), cpu.end());
            long hit = 0;
            for (size_t i = 0; i < nq; i++)
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        if (ids[i * k + b] == gt[i * k + a]) {
                            hit++;
                            break;
                        }
            printf("{\"lib\": \"hnswlib-native\", \"ef\": %d, \"threads\": %d, \"recall\": %.4f, \"qps\": %.1f, "
                   "\"qps_cpu\": %.1f}\n", ef, threads, (double)hit / (nq * k), nq / times[times.size() / 2],
                   threads == 1 ? nq / cpu[cpu.size() / 2] : 0.0);
            fflush(stdout);
        }
    }
    delete h;
    return 0;
}
