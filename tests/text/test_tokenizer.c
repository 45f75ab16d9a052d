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
#include <pthread.h>
#include <unistd.h>

#include "core/error.h"
#include "text/json.h"
#include "text/tokenizer.h"

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

/* ---- self-contained cases on a tiny vocabulary ---- */

static const char *const tiny_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##want", "##ed", ",", "!", ".", "'",
    "生", "活", "a", "##b", "##bb", "b", "οδος", "σα", "σ", "i", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab" /* 한 as jamo */,
    "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad" /* x U+1D165 U+1D16D (canonical order) */, "\xe8\xb1\x88" /* U+8C48 */,
    "cafe", "Hello", "naive", "##x", "x"};
#define TINY_N ((int)(sizeof tiny_vocab / sizeof tiny_vocab[0]))

static bienc_tokenizer *tiny(int lower)
{
    bienc_tokenizer *t;
    if (tokenizer_from_vocab_lines(&t, tiny_vocab, TINY_N, lower, "tiny") != 0) fail_msg("%s", bienc_last_error());
    return t;
}

/* Pieces of text (no specials) joined by spaces. */
static const char *pieces(const bienc_tokenizer *t, const char *text, size_t len)
{
    static char out[4096];
    int32_t ids[512];
    int n;
    assert_int_equal(tokenizer_encode(t, text, len, 0, 0, ids, 512, &n), 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, " ");
        strcat(out, tokenizer_id_to_token(t, ids[i]));
    }
    return out;
}
#define P(t, s) pieces(t, s, sizeof(s) - 1)

static void test_normalization(void **state)
{
    bienc_tokenizer *t = tiny(1);
    assert_string_equal(P(t, "  HeLLo,\tWÖRLD!  "), "hello , world !");
    assert_string_equal(P(t, "Café naïve"), "cafe naive");                /* accents stripped */
    assert_string_equal(P(t, "UNwantéd"), "un ##want ##ed");
    assert_string_equal(P(t, "a生活b"), "a 生 活 b");                     /* CJK split */
    assert_string_equal(P(t, "\xef\xa4\x80"), "\xe8\xb1\x88");             /* U+F900 -> U+8C48 by NFD */
    assert_string_equal(P(t, "abbb abb ab"), "a ##bb ##b a ##bb a ##b");   /* longest match first */
    assert_string_equal(P(t, "abc"), "[UNK]");                             /* no segmentation: whole word */
    assert_string_equal(P(t, "\xce\x9f\xce\x94\xce\x9f\xce\xa3"), "οδος"); /* ΟΔΟΣ: final sigma */
    assert_string_equal(P(t, "\xce\xa3\xce\x91"), "σα");                   /* ΣΑ: not final */
    assert_string_equal(P(t, "\xce\xa3"), "σ");                            /* lone Σ: not final */
    assert_string_equal(P(t, "\xc4\xb0"), "i");                            /* İ -> i + U+0307 -> i */
    assert_string_equal(P(t, "\xed\x95\x9c"), "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"); /* Hangul to jamo */
    /* non-Mn combining marks are put in canonical order (ccc 216 before 226) */
    assert_string_equal(P(t, "x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5"), "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    /* clean-up: NUL, U+FFFD, controls and format characters vanish without splitting */
    assert_string_equal(P(t, "hel\x00lo wo\xef\xbf\xbdrl\x7f\xe2\x80\x8b" "d"), "hello world");
    /* odd spaces split: NBSP, ideographic space, U+2028 */
    assert_string_equal(P(t, "hello\xc2\xa0world\xe3\x80\x80hello\xe2\x80\xa8world"), "hello world hello world");
    assert_string_equal(P(t, "hello'a."), "hello ' a .");
    assert_string_equal(P(t, "a[MASK]b [CLS]"), "a [MASK] b [CLS]");       /* raw special tokens */
    assert_string_equal(P(t, "[mask]"), "[UNK] [UNK] [UNK]");              /* case-sensitive: [ mask ] */
    assert_string_equal(P(t, ""), "");
    assert_string_equal(P(t, " \t\n\r "), "");
    tokenizer_free(t);
    /* cased: no lower-casing, no accent stripping */
    t = tiny(0);
    assert_string_equal(P(t, "Hello hello HELLO"), "Hello hello [UNK]");
    assert_string_equal(P(t, "cafe café"), "cafe [UNK]");
    tokenizer_free(t);
}

static void test_long_words(void **state)
{
    bienc_tokenizer *t = tiny(1);
    char w[256];
    /* 100 characters: still segmented; 101: [UNK] */
    memset(w, 'x', 100);
    int32_t ids[256];
    int n;
    assert_int_equal(tokenizer_encode(t, w, 100, 0, 0, ids, 256, &n), 0);
    assert_int_equal(n, 100);
    assert_string_equal(tokenizer_id_to_token(t, ids[99]), "##x");
    memset(w, 'x', 101);
    assert_int_equal(tokenizer_encode(t, w, 101, 0, 0, ids, 256, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], tokenizer_unk_id(t));
    /* the limit counts characters after normalization, not bytes: 60 x "é" is 120 bytes */
    char acc[256];
    for (int i = 0; i < 60; i++) memcpy(acc + 2 * i, "\xc3\xa9", 2);
    assert_int_equal(tokenizer_encode(t, acc, 120, 0, 0, ids, 256, &n), 0);
    assert_int_equal(n, 1);  /* "eee..." has no segmentation in the tiny vocab: [UNK] */
    tokenizer_free(t);
}

static void test_invalid_utf8(void **state)
{
    bienc_tokenizer *t = tiny(1);
    /* stray continuation, overlong, surrogate, beyond U+10FFFF, truncated at the end */
    assert_string_equal(P(t, "hel\x80lo \xc0\xafworld"), "hello world");
    assert_string_equal(P(t, "hello\xed\xa0\x80 \xf4\x90\x80\x80world"), "hello world");
    assert_string_equal(P(t, "hello \xe4\xb8"), "hello");
    assert_string_equal(P(t, "hello \xf0"), "hello");
    /* a truncated sequence does not swallow the ASCII after it */
    assert_string_equal(P(t, "\xe4\xb8" "a"), "a");
    tokenizer_free(t);
}

static void test_specials_and_truncation(void **state)
{
    bienc_tokenizer *t = tiny(1);
    int32_t ids[64], types[64];
    int n;
    assert_int_equal(tokenizer_encode(t, "hello world", 11, 1, 0, ids, 64, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 6);
    assert_int_equal(ids[3], 3);
    /* truncation keeps [SEP] */
    assert_int_equal(tokenizer_encode(t, "hello world hello", 17, 1, 3, ids, 64, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 3);
    assert_int_equal(tokenizer_encode(t, "hello", 5, 1, 1, ids, 64, &n), BIENC_EINVAL);
    /* buffer too small: BIENC_ERANGE with the needed count */
    assert_int_equal(tokenizer_encode(t, "hello world hello", 17, 1, 0, ids, 2, &n), BIENC_ERANGE);
    assert_int_equal(n, 5);
    /* pair: [CLS] a [SEP] b [SEP], types 0 0 0 1 1 */
    assert_int_equal(tokenizer_encode_pair(t, "hello", 5, "world", 5, 0, ids, types, 64, &n), 0);
    assert_int_equal(n, 5);
    int want[5] = {2, 5, 3, 6, 3}, want_t[5] = {0, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ids[i], want[i]);
        assert_int_equal(types[i], want_t[i]);
    }
    /* longest first (HF fast tokenizer): a=6, b=2, max 8 -> room 5: b kept, a cut to 3 */
    const char *a6 = "a a a a a a", *b2 = "b b";
    assert_int_equal(tokenizer_encode_pair(t, a6, strlen(a6), b2, strlen(b2), 8, ids, types, 64, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(ids[4], 3);
    assert_int_equal(ids[5], 19);
    assert_int_equal(types[5], 1);
    /* both long: room 5 -> a 2, b 3 when a <= b; a 3, b 2 when a is longer */
    const char *b6 = "b b b b b b", *a7 = "a a a a a a a";
    assert_int_equal(tokenizer_encode_pair(t, a6, strlen(a6), b6, strlen(b6), 8, ids, types, 64, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(ids[3], 3);  /* [CLS] a a [SEP] b b b [SEP] */
    assert_int_equal(tokenizer_encode_pair(t, a7, strlen(a7), b6, strlen(b6), 8, ids, types, 64, &n), 0);
    assert_int_equal(ids[4], 3);  /* [CLS] a a a [SEP] b b [SEP] */
    assert_int_equal(ids[7], 3);
    assert_int_equal(tokenizer_encode_pair(t, a6, strlen(a6), b6, strlen(b6), 0, ids, types, 8, &n), BIENC_ERANGE);
    assert_int_equal(n, 15);
    tokenizer_free(t);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Loading `data` must fail with BIENC_EFORMAT and a message containing `needle`. */
static void expect_bad_vocab(const char *name, const char *data, size_t len, const char *needle)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/bienc_test_tok_%d_%s", (int)getpid(), name);
    write_file(path, data, len);
    bienc_tokenizer *t = NULL;
    int rc = tokenizer_load(&t, path, -1);
    if (rc != BIENC_EFORMAT || !strstr(bienc_last_error(), needle) || !strstr(bienc_last_error(), name))
        fail_msg("%s: rc %d, message '%s' (wanted '%s')", name, rc, bienc_last_error(), needle);
    assert_null(t);
    remove(path);
}

#define EXPECT_BAD(name, lit, needle) expect_bad_vocab(name, lit, sizeof(lit) - 1, needle)

static void test_malformed_vocab(void **state)
{
    EXPECT_BAD("empty.txt", "", "empty vocabulary");
    EXPECT_BAD("dup.txt", "[UNK]\na\nb\na\n", "line 4: duplicate token 'a'");
    EXPECT_BAD("nounk.txt", "a\nb\n", "no [UNK]");
    EXPECT_BAD("blank.txt", "[UNK]\n\nb\n", "line 2: empty token");
    EXPECT_BAD("nul.txt", "[UNK]\na\0b\n", "line 2: NUL");
    EXPECT_BAD("junk.txt", "[UNK]\n\xff\xfe\x01\n", "line 2: token is not valid UTF-8");
    static char huge[5000];
    memcpy(huge, "[UNK]\n", 6);
    memset(huge + 6, 'x', sizeof huge - 7);
    huge[sizeof huge - 1] = '\n';
    expect_bad_vocab("huge.txt", huge, sizeof huge, "line 2: token of more than 1024 bytes");
    EXPECT_BAD("bad.json", "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"a\": 1,}}}", "offset");
    EXPECT_BAD("ids.json", "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"a\": 5}}}", "id must be an integer");
    EXPECT_BAD("twice.json", "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"a\": 0}}}", "id 0 used by");
    EXPECT_BAD("bpe.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", "only WordPiece");
    bienc_tokenizer *t = NULL;
    assert_int_equal(tokenizer_load(&t, "/nonexistent/vocab.txt", 1), BIENC_EIO);
    assert_non_null(strstr(bienc_last_error(), "/nonexistent/vocab.txt"));
}

static void test_vocab_files(void **state)
{
    char path[256], path2[256];
    snprintf(path, sizeof path, "/tmp/bienc_test_tok_%d_save.txt", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/bienc_test_tok_%d_t.json", (int)getpid());
    bienc_tokenizer *t = tiny(1), *u = NULL;
    assert_int_equal(tokenizer_save_vocab(t, path), 0);
    assert_int_equal(tokenizer_load(&u, path, 1), 0);
    assert_int_equal(tokenizer_vocab_size(u), TINY_N);
    for (int i = 0; i < TINY_N; i++) assert_string_equal(tokenizer_id_to_token(u, i), tiny_vocab[i]);
    assert_int_equal(tokenizer_token_to_id(u, "##want", 6), 8);
    assert_int_equal(tokenizer_token_to_id(u, "nope", 4), -1);
    assert_null(tokenizer_id_to_token(u, TINY_N));
    assert_null(tokenizer_id_to_token(u, -1));
    tokenizer_free(u);
    /* CRLF vocab without a final newline */
    const char crlf[] = "[UNK]\r\n[CLS]\r\nhello";
    assert_int_equal(tokenizer_from_vocab_text(&u, crlf, sizeof crlf - 1, 1, "crlf"), 0);
    assert_int_equal(tokenizer_vocab_size(u), 3);
    assert_int_equal(tokenizer_token_to_id(u, "hello", 5), 2);
    assert_int_equal(tokenizer_sep_id(u), -1);
    int32_t ids[8];
    int n;
    assert_int_equal(tokenizer_encode(u, "hello", 5, 1, 0, ids, 8, &n), BIENC_ESTATE);
    tokenizer_free(u);
    /* tokenizer.json: ids from the map, lowercase from the normalizer */
    const char *js = "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": false},\n"
                     " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\",\n"
                     "  \"vocab\": {\"Hello\": 2, \"[UNK]\": 0, \"\\u0068ello\": 1}}}";
    write_file(path2, js, strlen(js));
    assert_int_equal(tokenizer_load(&u, path2, -1), 0);
    assert_int_equal(tokenizer_do_lower_case(u), 0);
    assert_string_equal(P(u, "Hello hello"), "Hello hello");
    tokenizer_free(u);
    assert_int_equal(tokenizer_load(&u, path2, 1), 0);
    assert_string_equal(P(u, "Hello hello"), "hello hello");
    tokenizer_free(u);
    tokenizer_free(t);
    tokenizer_free(NULL);
    remove(path);
    remove(path2);
}

/* Concurrent encodes on one tokenizer give the serial results. */
typedef struct thread_job { const bienc_tokenizer *t; int seed; int ok; } thread_job;

static void make_line(char *buf, int i)
{
    static const char *words[] = {"hello", "World", "un", "wanted", "é", "生活", "ΟΔΟΣ", ",", "\xff", "ab", "abb"};
    buf[0] = '\0';
    for (int k = 0; k < 20; k++) {
        strcat(buf, words[(i * 7 + k * 13) % 11]);
        if ((i + k) % 3) strcat(buf, " ");
    }
}

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    j->ok = 1;
    char line[512];
    for (int i = 0; i < 2000; i++) {
        make_line(line, i + j->seed);
        int32_t a[256], b[256];
        int na, nb;
        tokenizer_encode(j->t, line, strlen(line), 1, 0, a, 256, &na);
        tokenizer_encode(j->t, line, strlen(line), 1, 0, b, 256, &nb);
        if (na != nb || memcmp(a, b, sizeof(int32_t) * (size_t)na) != 0) j->ok = 0;
    }
    return NULL;
}

static void test_threads(void **state)
{
    bienc_tokenizer *t = tiny(1);
    pthread_t th[4];
    thread_job jobs[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (thread_job){t, k * 100, 0};
        assert_int_equal(pthread_create(&th[k], NULL, thread_run, &jobs[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        assert_true(jobs[k].ok);
    }
    /* and agree with a serial encode */
    char line[512];
    make_line(line, 150);
    int32_t a[256], b[256];
    int na, nb;
    assert_int_equal(tokenizer_encode(t, line, strlen(line), 1, 0, a, 256, &na), 0);
    thread_job j = {t, 150, 0};
    pthread_create(&th[0], NULL, thread_run, &j);
    assert_int_equal(tokenizer_encode(t, line, strlen(line), 1, 0, b, 256, &nb), 0);
    pthread_join(th[0], NULL);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, sizeof(int32_t) * (size_t)na);
    tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vocab_txt),
        cmocka_unit_test(test_reference_tokenizer_json),
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_long_words),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_specials_and_truncation),
        cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
