/* WordPiece tokenizer: the Hugging Face reference cases (shared data) and self-contained
 * cases on a tiny vocabulary written by the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bienc/error.h"
#include "bienc/json.h"
#include "bienc/tokenizer.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static const char *shared_dir(void)
{
    const char *d = getenv("BIENC_SHARED_DATA");
    if (!d || !*d) return NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/bert-base-uncased/vocab.txt", d);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fclose(f);
    return d;
}

/* Runs every case of one reference file against tokenizer t; returns the number checked. */
static int check_cases(const bienc_tokenizer *t, const char *path, int add_special)
{
    size_t len;
    char *text = read_all(path, &len);
    if (!text) fail_msg("cannot read %s", path);
    json_doc *d;
    assert_int_equal(json_doc_new(&d), 0);
    int checked = 0, line = 0;
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (ll > 0) {
            if (json_parse(d, p, ll) != 0) fail_msg("%s line %d: %s", path, line, bienc_last_error());
            const json_node *root = json_root(d);
            size_t alen = 0, blen = 0;
            const char *a = json_get_string(d, root, "text", &alen);
            const char *b = json_get_string(d, root, "text_pair", &blen);
            const json_node *want = json_get(d, root, "ids");
            const json_node *want_tok = json_get(d, root, "tokens");
            assert_non_null(a);
            assert_non_null(want);
            int32_t ids[1024], types[1024];
            int n = 0;
            if (b) assert_int_equal(tokenizer_encode_pair(t, a, alen, b, blen, 0, ids, types, 1024, &n), 0);
            else assert_int_equal(tokenizer_encode(t, a, alen, add_special, 0, ids, 1024, &n), 0);
            int ok = n == want->count;
            int k = 0;
            for (const json_node *c = json_first(d, want); c && ok; c = json_next(d, c), k++) {
                int64_t v;
                assert_int_equal(json_int64(c, &v), 0);
                if (ids[k] != v) ok = 0;
            }
            /* the pieces: the file's tokens leave out [CLS] and [SEP] */
            int pos = 0;
            for (const json_node *c = json_first(d, want_tok); c && ok; c = json_next(d, c)) {
                while (pos < n && (ids[pos] == tokenizer_cls_id(t) || ids[pos] == tokenizer_sep_id(t))) pos++;
                const char *piece = pos < n ? tokenizer_id_to_token(t, ids[pos++]) : NULL;
                if (!piece || strcmp(piece, c->str) != 0) ok = 0;
            }
            if (!ok) {
                fprintf(stderr, "%s line %d: text \"%s\": got", path, line, a);
                for (int i = 0; i < n; i++) fprintf(stderr, " %d(%s)", ids[i], tokenizer_id_to_token(t, ids[i]));
                fprintf(stderr, "\n");
                fail_msg("%s line %d: mismatch", path, line);
            }
            if (b) {
                /* token types: 0 through the first [SEP], then 1 */
                int first_sep = 0;
                while (ids[first_sep] != tokenizer_sep_id(t)) first_sep++;
                for (int i = 0; i < n; i++) assert_int_equal(types[i], i <= first_sep ? 0 : 1);
            }
            checked++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    json_free(d);
    free(text);
    return checked;
}

static void check_reference(const char *vocab_name)
{
    const char *dir = shared_dir();
    if (!dir) {
        printf("SKIP: $BIENC_SHARED_DATA/bert-base-uncased not found (reference cases need the shared data)\n");
        skip();
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/bert-base-uncased/%s", dir, vocab_name);
    FILE *f = fopen(p, "rb");
    if (!f) {
        printf("SKIP: %s not found\n", p);
        skip();
    }
    fclose(f);
    bienc_tokenizer *t;
    if (tokenizer_load(&t, p, -1) != 0) fail_msg("%s", bienc_last_error());
    assert_int_equal(tokenizer_vocab_size(t), 30522);
    assert_int_equal(tokenizer_cls_id(t), 101);
    assert_int_equal(tokenizer_sep_id(t), 102);
    assert_int_equal(tokenizer_unk_id(t), 100);
    assert_int_equal(tokenizer_pad_id(t), 0);
    assert_int_equal(tokenizer_mask_id(t), 103);
    snprintf(p, sizeof p, "%s/tokenizer-cases/bert-base-uncased.jsonl", dir);
    assert_int_equal(check_cases(t, p, 1), 30);
    snprintf(p, sizeof p, "%s/tokenizer-cases/bge-small-en-v1.5-no-specials.jsonl", dir);
    assert_int_equal(check_cases(t, p, 0), 46);
    tokenizer_free(t);
}

static void test_reference_vocab_txt(void **state) { check_reference("vocab.txt"); }
static void test_reference_tokenizer_json(void **state) { check_reference("tokenizer.json"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vocab_txt),
        cmocka_unit_test(test_reference_tokenizer_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
