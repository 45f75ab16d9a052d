/* sentence-transformers' ranking losses, composed from ops that each carry their own
 * backward (pooling.h similarities + loss.c cross entropy / MSE), so nothing here is
 * differentiated by hand.
 *
 *   MultipleNegativesRankingLoss:  scores[B, M] = scale * cos_sim(q, docs),
 *                                  loss = CE(scores, labels = 0..B-1)
 *   symmetric variant:             + CE(scores[:, :B]^T, 0..B-1), averaged
 *   MarginMSELoss:                 MSE(q.p - q.n, teacher margin)
 *   DistillKLDivLoss:              T^2 KL(softmax(teacher / T) || softmax(scale sim(q, d_j) / T))
 *                                  over each query's own 1 + K passages
 *   cross-encoder MNRL (listwise): CE(scale * logits[B, G], labels = 0): each query's
 *                                  positive among its G passages */
#include "ops/loss.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "ops/pooling.h"

/* labels[i] = i in the tape's arena (int32 like every label array here). */
static int32_t *mnrl_diagonal_labels(bienc_tape *tape, int64_t B)
{
    int32_t *labels = tape_alloc(tape, sizeof(int32_t) * (size_t)B);
    if (labels)
        for (int64_t i = 0; i < B; i++) labels[i] = (int32_t)i;
    return labels;
}

int loss_mnrl(bienc_tape *tape, bienc_tensor *q, bienc_tensor *docs, float scale, int symmetric, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out) return bienc_error(BIENC_EINVAL, "loss_mnrl: tape or out is NULL");
    BIENC_TRY(tensor_check(q, "loss_mnrl: queries", 2, NULL));
    BIENC_TRY(tensor_check(docs, "loss_mnrl: docs", 2, (int64_t[]){-1, q->shape[1]}));
    const int64_t B = q->shape[0], M = docs->shape[0];
    if (B < 1) return bienc_error(BIENC_ESHAPE, "loss_mnrl: no queries");
    if (M < B)
        return bienc_error(BIENC_ESHAPE, "loss_mnrl: %lld docs for %lld queries (the first B docs are the positives)",
                           (long long)M, (long long)B);
    if (B > INT32_MAX) return bienc_error(BIENC_ERANGE, "loss_mnrl: batch too large");
    int32_t *labels = mnrl_diagonal_labels(tape, B);
    if (!labels) return BIENC_ENOMEM;

    /* Normalise once and share the unit rows between both directions. */
    bienc_tensor *qn, *dn, *scores, *l_fwd;
    BIENC_TRY(op_l2_normalize(tape, q, &qn));
    BIENC_TRY(op_l2_normalize(tape, docs, &dn));
    BIENC_TRY(op_dot_matrix_scaled(tape, qn, dn, scale, &scores)); /* [B, M] */
    BIENC_TRY(loss_cross_entropy(tape, scores, labels, &l_fwd));
    if (!symmetric) {
        *out = l_fwd;
        return BIENC_OK;
    }
    /* scores[:, :B]^T = scale * pn qn^T: each positive ranks the B queries. */
    bienc_tensor *pn, *scores_t, *l_bwd;
    BIENC_TRY(op_slice_rows(tape, dn, 0, B, &pn));
    BIENC_TRY(op_dot_matrix_scaled(tape, pn, qn, scale, &scores_t)); /* [B, B] */
    BIENC_TRY(loss_cross_entropy(tape, scores_t, labels, &l_bwd));
    return op_weighted_sum(tape, 2, (bienc_tensor *[]){l_fwd, l_bwd}, (float[]){0.5f, 0.5f}, out);
}

int loss_margin_mse(bienc_tape *tape, bienc_tensor *q, bienc_tensor *p, bienc_tensor *n, const float *teacher_margin,
                    bienc_tensor **out)
{
    if (out) *out = NULL;
    BIENC_ASSERT(tape && out && teacher_margin);
    BIENC_TRY(tensor_check(q, "loss_margin_mse: queries", 2, NULL));
    BIENC_TRY(tensor_check(p, "loss_margin_mse: positives", 2, q->shape));
    BIENC_TRY(tensor_check(n, "loss_margin_mse: negatives", 2, q->shape));
    const int64_t B = q->shape[0];
    if (B < 1) return bienc_error(BIENC_ESHAPE, "loss_margin_mse: empty batch");

    bienc_tensor *sp, *sn, *margin, *target;
    BIENC_TRY(op_row_dot(tape, q, p, &sp)); /* [B] */
    BIENC_TRY(op_row_dot(tape, q, n, &sn)); /* [B] */
    BIENC_TRY(op_weighted_sum(tape, 2, (bienc_tensor *[]){sp, sn}, (float[]){1.0f, -1.0f}, &margin));
    /* The teacher's margins are a constant: an arena tensor that requires no gradient. */
    BIENC_TRY(tape_tensor(tape, 1, (int64_t[]){B}, &target));
    memcpy(target->data, teacher_margin, sizeof(float) * (size_t)B);
    return loss_mse(tape, margin, target, out);
}

int loss_listwise_ce(bienc_tape *tape, bienc_tensor *logits, int64_t group, float scale, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !logits || !out) return bienc_error(BIENC_EINVAL, "loss_listwise_ce: NULL argument");
    if (group < 1 || logits->size % group != 0)
        return bienc_error(BIENC_ESHAPE, "loss_listwise_ce: %lld logits are not groups of %lld", (long long)logits->size,
                           (long long)group);
    int64_t B = logits->size / group;
    int32_t *zeros = tape_alloc(tape, sizeof(int32_t) * (size_t)B);
    if (!zeros) return BIENC_ENOMEM;
    memset(zeros, 0, sizeof(int32_t) * (size_t)B);
    bienc_tensor *g;
    BIENC_TRY(op_reshape(tape, logits, 2, (int64_t[]){B, group}, &g));
    if (scale != 1.0f) BIENC_TRY(op_scale(tape, g, scale, &g));
    return loss_cross_entropy(tape, g, zeros, out);
}

int loss_distill_kl_div(bienc_tape *tape, bienc_tensor *q, bienc_tensor *docs, const float *teacher,
                        bienc_similarity similarity, float scale, float temperature, bienc_tensor **out)
{
    if (out) *out = NULL;
    if (!tape || !out || !teacher) return bienc_error(BIENC_EINVAL, "loss_distill_kl_div: NULL argument");
    if (!(temperature > 0.0f))
        return bienc_error(BIENC_EINVAL, "loss_distill_kl_div: temperature %g is not > 0", (double)temperature);
    BIENC_TRY(tensor_check(q, "loss_distill_kl_div: queries", 2, NULL));
    BIENC_TRY(tensor_check(docs, "loss_distill_kl_div: docs", 2, (int64_t[]){-1, q->shape[1]}));
    const int64_t B = q->shape[0];
    if (B < 1 || docs->shape[0] < B || docs->shape[0] % B != 0)
        return bienc_error(BIENC_ESHAPE, "loss_distill_kl_div: %lld docs are not 1 + K blocks of %lld queries",
                           (long long)docs->shape[0], (long long)B);
    const int64_t G = docs->shape[0] / B;

    /* The student: s[B, G] / T, each query against its own passages. */
    bienc_tensor *qs = q, *ds = docs, *s;
    if (similarity == BIENC_SIM_COS) {
        BIENC_TRY(op_l2_normalize(tape, q, &qs));
        BIENC_TRY(op_l2_normalize(tape, docs, &ds));
    }
    BIENC_TRY(op_row_dot_groups(tape, qs, ds, &s));
    BIENC_TRY(op_scale(tape, s, scale / temperature, &s));

    /* The teacher's distribution softmax(t / T) is a constant: no gradient flows to it. */
    float *target = tape_floats(tape, (size_t)(B * G));
    if (!target) return BIENC_ENOMEM;
    for (int64_t i = 0; i < B; i++) {
        const float *tr = teacher + i * G;
        double mx = tr[0] / (double)temperature, sum = 0.0;
        for (int64_t j = 0; j < G; j++) {
            if (!isfinite(tr[j]))
                return bienc_error(BIENC_ERANGE, "loss_distill_kl_div: teacher score [%lld, %lld] is not finite",
                                   (long long)i, (long long)j);
            mx = fmax(mx, tr[j] / (double)temperature);
        }
        for (int64_t j = 0; j < G; j++) sum += exp(tr[j] / (double)temperature - mx);
        for (int64_t j = 0; j < G; j++) target[i * G + j] = (float)(exp(tr[j] / (double)temperature - mx) / sum);
    }
    bienc_tensor *kl;
    BIENC_TRY(loss_kl_div(tape, s, target, &kl));
    /* T^2 keeps the gradients' size independent of T (Hinton et al. 2015), as sentence-transformers does */
    return op_scale(tape, kl, temperature * temperature, out);
}
