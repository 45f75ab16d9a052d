/* libFuzzer harness for the run-config loader: any bytes as a YAML config, and as a
 * --set override. Never a crash, leak or hang; a config that loads must dump and load
 * back equal (the run directory keeps the dump).
 *   CC=clang cmake -S . -B build-fuzz -DBIENC_FUZZ=ON -DBIENC_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_config
 *   build-fuzz/tests/fuzz/fuzz_config -max_total_time=120 -max_len=4096 corpus/ configs/ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "core/error.h"

static void check_roundtrip(const bienc_run_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    int rc = config_dump_yaml(cfg, f);
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "dump failed: %s\n", bienc_last_error());
        abort();
    }
    bienc_run_config back;
    if (config_init(&back) != 0 || config_load_string(&back, buf, len, "dump") != 0) {
        fprintf(stderr, "dump does not load back: %s\n%s\n", bienc_last_error(), buf);
        abort();
    }
    char diff[128];
    if (!config_equal(cfg, &back, diff, sizeof diff)) {
        fprintf(stderr, "key %s differs after dump + load\n%s\n", diff, buf);
        abort();
    }
    config_free(&back);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bienc_run_config cfg;
    if (config_init(&cfg) != 0) abort();
    if (config_load_string(&cfg, (const char *)data, size, "fuzz.yaml") == 0) {
        check_roundtrip(&cfg);
        if (config_finalize(&cfg) == 0) check_roundtrip(&cfg);
    }
    config_free(&cfg);

    /* the same bytes as a --set argument (up to the first NUL) */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    if (config_init(&cfg) != 0) abort();
    if (config_set_override(&cfg, s) == 0) check_roundtrip(&cfg);
    config_free(&cfg);
    free(s);
    return 0;
}
