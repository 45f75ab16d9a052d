/* Internals shared by config.c (parsing, setting, dumping), config_schema.c (the key
 * table) and config_check.c (cross-key rules). */
#ifndef BIENC_IO_CONFIG_INTERNAL_H
#define BIENC_IO_CONFIG_INTERNAL_H

#include <stddef.h>

#include "io/config.h"

/* One name of a choice key and the enum value it stands for (src/core/kinds.h). A value's
 * first name in the table is its canonical spelling (dumps, `bienc config --keys`); later
 * names of the same value are aliases. Names match in any case. A table ends with {NULL}. */
typedef struct cfg_choice {
    const char *name;
    int value;
} cfg_choice;

/* One key of a section: its name inside the section (may be dotted: "train.size"). */
typedef struct cfg_key {
    const char *name;
    bienc_cfg_type type;
    size_t offset;         /* inside the section struct (CHOICE: an enum, stored as int) */
    const char *def;       /* default as YAML text; lists as "[1, 2]" */
    const cfg_choice *choices; /* CHOICE: its names */
    double min, max;       /* INT/FLOAT and list elements */
    int min_count, max_count; /* lists */
    const char *doc;
} cfg_key;

/* A flattened key: full dotted path and offset inside bienc_run_config. */
typedef struct cfg_entry {
    char path[64];
    const cfg_key *key;
    size_t offset;
    const char *def;       /* the key's default, or a per-section override (teacher.*) */
    char choices[256];     /* canonical choices "a|b|c" (CHOICE only) */
} cfg_entry;

/* All keys in schema order (built once). */
const cfg_entry *cfg_entries(int *n);
/* The entry for a path (after alias resolution), or NULL. */
const cfg_entry *cfg_find(const char *path);
/* 1 when path names a section (a strict prefix of some key path followed by '.'). */
int cfg_is_section(const char *path);
/* Rewrites an alias ("train.lr" -> "optim.lr", also under "teacher.") into buf; returns
 * the path to use (path itself when it is not an alias). */
const char *cfg_resolve_alias(const char *path, char *buf, size_t size);
/* The closest key path to `path` (for "did you mean"), or NULL when none is close. */
const char *cfg_suggest(const char *path);

/* Parses `text` (len bytes, not NUL-terminated) as the value of entry e and stores it in
 * cfg. On a type or range error returns BIENC_EINVAL with a message "key 'P' expects
 * ..., got 'V'" (callers prefix the location). */
int cfg_set_scalar(bienc_run_config *cfg, const cfg_entry *e, const char *text, size_t len);
/* For list entries: set from n element strings. */
int cfg_set_list(bienc_run_config *cfg, const cfg_entry *e, const char *const *items, const size_t *lens, int n);

/* What a key expects, for messages: "a number", "an integer", "true or false", ... */
const char *cfg_expects(const cfg_entry *e, char *buf, size_t size);

/* Canonical name of choice value v of e ("" when no name has that value). */
const char *cfg_choice_name(const cfg_entry *e, int v);

#define CFG_FIELD(cfg, e, T) ((T *)((char *)(cfg) + (e)->offset))
#define CFG_CFIELD(cfg, e, T) ((const T *)((const char *)(cfg) + (e)->offset))

#endif
