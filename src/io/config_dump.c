/* Writing a run config back as YAML (the run directory keeps the effective config).
 * libyaml's emitter does the quoting, so any string loads back byte for byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "io/config.h"
#include "core/error.h"
#include "io/config_internal.h"

/* Shortest "%.Ng" that reads back as the same double. */
static void format_double(double v, char *buf, size_t size)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    if (!yaml_emitter_emit(em, ev))
        return bienc_error(BIENC_EIO, "writing the config failed: %s", em->problem ? em->problem : "emitter error");
    return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1, style))
        return bienc_error(BIENC_ENOMEM, "writing the config: out of memory");
    return emit(em, &ev);
}

static int emit_mapping_start(yaml_emitter_t *em, int flow)
{
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    return emit(em, &ev);
}

static int emit_mapping_end(yaml_emitter_t *em)
{
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    return emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const bienc_run_config *cfg, const cfg_entry *e)
{
    char buf[64];
    switch (e->key->type) {
    case BIENC_CFG_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)*CFG_CFIELD(cfg, e, int64_t));
        return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
    case BIENC_CFG_FLOAT:
        format_double(*CFG_CFIELD(cfg, e, double), buf, sizeof buf);
        return emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE);
    case BIENC_CFG_BOOL:
        return emit_scalar(em, *CFG_CFIELD(cfg, e, int) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
    case BIENC_CFG_CHOICE:
        return emit_scalar(em, cfg_choice_name(e, *CFG_CFIELD(cfg, e, int)), YAML_PLAIN_SCALAR_STYLE);
    case BIENC_CFG_STRING: {
        const char *s = *CFG_CFIELD(cfg, e, char *);
        return emit_scalar(em, s ? s : "", YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    }
    case BIENC_CFG_INTS:
    case BIENC_CFG_FLOATS: {
        yaml_event_t ev;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
        BIENC_TRY(emit(em, &ev));
        int n = e->key->type == BIENC_CFG_INTS ? CFG_CFIELD(cfg, e, bienc_cfg_ints)->n : CFG_CFIELD(cfg, e, bienc_cfg_floats)->n;
        for (int i = 0; i < n; i++) {
            if (e->key->type == BIENC_CFG_INTS) snprintf(buf, sizeof buf, "%lld", (long long)CFG_CFIELD(cfg, e, bienc_cfg_ints)->v[i]);
            else format_double(CFG_CFIELD(cfg, e, bienc_cfg_floats)->v[i], buf, sizeof buf);
            BIENC_TRY(emit_scalar(em, buf, YAML_PLAIN_SCALAR_STYLE));
        }
        yaml_sequence_end_event_initialize(&ev);
        return emit(em, &ev);
    }
    }
    return 0;
}

/* Splits "a.b.c" into components; returns their count. */
static int split_path(const char *path, char parts[][64], int max)
{
    int n = 0;
    const char *p = path;
    while (*p && n < max) {
        size_t l = strcspn(p, ".");
        snprintf(parts[n++], 64, "%.*s", (int)l, p);
        p += l;
        if (*p) p++;
    }
    return n;
}

static int dump_entries(yaml_emitter_t *em, const bienc_run_config *cfg)
{
    int n;
    const cfg_entry *es = cfg_entries(&n);
    char open[8][64];   /* mappings currently open below the root */
    int depth = 0;
    for (int i = 0; i < n; i++) {
        char parts[8][64];
        int np = split_path(es[i].path, parts, 8);
        int common = 0;
        while (common < depth && common < np - 1 && strcmp(open[common], parts[common]) == 0) common++;
        for (; depth > common; depth--) BIENC_TRY(emit_mapping_end(em));
        for (; depth < np - 1; depth++) {
            BIENC_TRY(emit_scalar(em, parts[depth], YAML_PLAIN_SCALAR_STYLE));
            BIENC_TRY(emit_mapping_start(em, 0));
            snprintf(open[depth], sizeof open[depth], "%s", parts[depth]);
        }
        BIENC_TRY(emit_scalar(em, parts[np - 1], YAML_PLAIN_SCALAR_STYLE));
        BIENC_TRY(emit_value(em, cfg, &es[i]));
    }
    for (; depth > 0; depth--) BIENC_TRY(emit_mapping_end(em));
    return 0;
}

int config_dump_yaml(const bienc_run_config *cfg, FILE *f)
{
    if (!cfg || !f) return bienc_error(BIENC_EINVAL, "config_dump_yaml: NULL argument");
    fprintf(f, "# bienc run config: every key with its effective value (`bienc config --keys` documents them)\n");
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em)) return bienc_error(BIENC_ENOMEM, "config_dump_yaml: out of memory");
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    yaml_event_t ev;
    int rc = 0;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    rc = emit(&em, &ev);
    if (rc == 0) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        rc = emit(&em, &ev);
    }
    if (rc == 0) rc = emit_mapping_start(&em, 0);
    if (rc == 0) rc = dump_entries(&em, cfg);
    if (rc == 0) rc = emit_mapping_end(&em);
    if (rc == 0) {
        yaml_document_end_event_initialize(&ev, 1);
        rc = emit(&em, &ev);
    }
    if (rc == 0) {
        yaml_stream_end_event_initialize(&ev);
        rc = emit(&em, &ev);
    }
    if (rc == 0 && !yaml_emitter_flush(&em)) rc = bienc_error(BIENC_EIO, "writing the config failed");
    yaml_emitter_delete(&em);
    if (rc == 0 && (fflush(f) != 0 || ferror(f))) rc = bienc_error(BIENC_EIO, "writing the config failed");
    return rc;
}
