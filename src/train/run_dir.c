#include "train/run_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/os.h"

int run_dir_create(const bienc_run_config *cfg, const char *suffix, bienc_train_result *r)
{
    char base[1024];
    BIENC_TRY(config_run_dir(cfg, base, sizeof base));
    int n = snprintf(r->run_dir, sizeof r->run_dir, "%s%s", base, suffix ? suffix : "");
    if (n < 0 || (size_t)n >= sizeof r->run_dir) return bienc_error(BIENC_ERANGE, "run directory name too long: %s", base);
    BIENC_TRY(os_mkdir_p(r->run_dir));
    const char *name = strrchr(r->run_dir, '/');
    name = name ? name + 1 : r->run_dir;
    const char *dir = cfg->checkpoint.dir ? cfg->checkpoint.dir : "checkpoints";
    n = snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof r->ckpt_dir) return bienc_error(BIENC_ERANGE, "checkpoint directory name too long");
    return os_mkdir_p(r->ckpt_dir);
}

int run_dir_config_text(const bienc_run_config *cfg, char **text)
{
    size_t n = 0;
    *text = NULL;
    FILE *m = open_memstream(text, &n);
    if (!m) return bienc_error(BIENC_ENOMEM, "out of memory");
    int rc = config_dump_yaml(cfg, m);
    fclose(m);
    return rc;
}

int run_dir_write_config(const char *run_dir, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/config.yaml", run_dir);
    atomic_file out;
    BIENC_TRY(atomic_file_open(&out, path));
    fputs(text, out.f);
    return atomic_file_commit(&out);
}
