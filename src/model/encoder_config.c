/* Encoder configuration: defaults, validation, activation names and a FLOP count. */
#include <math.h>
#include <string.h>

#include "model/encoder.h"
#include "core/error.h"

void encoder_config_default(bienc_encoder_config *cfg)
{
    if (!cfg) return;
    *cfg = (bienc_encoder_config){
        .vocab_size = 30522,
        .hidden_size = 768,
        .num_layers = 12,
        .num_heads = 12,
        .intermediate_size = 3072,
        .max_position_embeddings = 512,
        .type_vocab_size = 2,
        .hidden_dropout = 0.1f,
        .attention_dropout = 0.1f,
        .layer_norm_eps = 1e-12f,
        .initializer_range = 0.02f,
        .activation = BIENC_GELU_ERF,
    };
}

void encoder_config_minilm_l6(bienc_encoder_config *cfg)
{
    if (!cfg) return;
    encoder_config_default(cfg);
    cfg->hidden_size = 384;
    cfg->num_layers = 6;
    cfg->intermediate_size = 1536;
}

/* Upper bounds keep every product (V * C, P * C, I * C) far from overflowing int64 and
 * reject garbage read from a config file before it turns into a huge allocation. */
#define MAX_DIM (1 << 20)

static int check_range(const char *field, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return bienc_error(BIENC_EINVAL, "encoder config: %s = %d is out of range [%d, %d]", field, v, lo, hi);
    return BIENC_OK;
}

static int check_prob(const char *field, float p)
{
    if (!(p >= 0.0f && p < 1.0f))
        return bienc_error(BIENC_EINVAL, "encoder config: %s = %g must be in [0, 1)", field, (double)p);
    return BIENC_OK;
}

int encoder_config_param_count(const bienc_encoder_config *cfg) { return 5 + 16 * cfg->num_layers; }

int encoder_config_check(const bienc_encoder_config *cfg)
{
    if (!cfg) return bienc_error(BIENC_EINVAL, "encoder config: NULL");
    BIENC_TRY(check_range("vocab_size", cfg->vocab_size, 1, 1 << 24));
    BIENC_TRY(check_range("hidden_size", cfg->hidden_size, 1, 1 << 16));
    BIENC_TRY(check_range("num_layers", cfg->num_layers, 1, 1024));
    BIENC_TRY(check_range("num_heads", cfg->num_heads, 1, cfg->hidden_size));
    if (cfg->hidden_size % cfg->num_heads)
        return bienc_error(BIENC_EINVAL, "encoder config: hidden_size %d is not a multiple of num_heads %d",
                           cfg->hidden_size, cfg->num_heads);
    BIENC_TRY(check_range("intermediate_size", cfg->intermediate_size, 1, MAX_DIM));
    BIENC_TRY(check_range("max_position_embeddings", cfg->max_position_embeddings, 1, MAX_DIM));
    BIENC_TRY(check_range("type_vocab_size", cfg->type_vocab_size, 1, 1 << 16));
    BIENC_TRY(check_prob("hidden_dropout", cfg->hidden_dropout));
    BIENC_TRY(check_prob("attention_dropout", cfg->attention_dropout));
    if (!(cfg->layer_norm_eps > 0.0f && cfg->layer_norm_eps < 1.0f))
        return bienc_error(BIENC_EINVAL, "encoder config: layer_norm_eps = %g must be in (0, 1)",
                           (double)cfg->layer_norm_eps);
    if (!(cfg->initializer_range >= 0.0f && cfg->initializer_range <= 10.0f))
        return bienc_error(BIENC_EINVAL, "encoder config: initializer_range = %g must be in [0, 10]",
                           (double)cfg->initializer_range);
    if (cfg->activation != BIENC_GELU_ERF && cfg->activation != BIENC_GELU_TANH)
        return bienc_error(BIENC_EINVAL, "encoder config: activation = %d is not a known GELU kind",
                           (int)cfg->activation);
    return BIENC_OK;
}

int encoder_activation_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "gelu") == 0) return BIENC_GELU_ERF;
    if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0) return BIENC_GELU_TANH;
    return -1;
}

const char *encoder_activation_name(bienc_gelu_kind kind)
{
    return kind == BIENC_GELU_TANH ? "gelu_new" : "gelu";
}

double encoder_forward_flops(const bienc_encoder_config *cfg, const bienc_seqs *seqs)
{
    if (!cfg || !seqs || !seqs->offsets || seqs->n < 0) return 0.0;
    double C = cfg->hidden_size, I = cfg->intermediate_size;
    double T = seqs->offsets[seqs->n], sum_len2 = 0.0;
    for (int s = 0; s < seqs->n; s++) {
        double len = seqs->offsets[s + 1] - seqs->offsets[s];
        sum_len2 += len * len;
    }
    /* Per layer: Q, K, V, output projections (4 C^2 per token), the two FFN matmuls
     * (2 C I per token), and Q K^T plus P V (2 len^2 C per sequence). */
    double per_layer = 2.0 * T * (4.0 * C * C + 2.0 * C * I) + 2.0 * 2.0 * sum_len2 * C;
    return per_layer * cfg->num_layers;
}
