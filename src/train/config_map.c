#include "train/config_map.h"

#include <stdint.h>

#include "core/error.h"

int config_encoder_config(const bienc_cfg_model *m, int64_t vocab_size, bienc_encoder_config *out)
{
    BIENC_ASSERT(m && out);
    int64_t v = m->vocab_size ? m->vocab_size : vocab_size;
    if (v < 1 || v > INT32_MAX) return bienc_error(BIENC_EINVAL, "model.vocab_size: %lld (need the tokenizer's size)", (long long)v);
    encoder_config_default(out);
    out->vocab_size = (int)v;
    out->hidden_size = (int)m->hidden;
    out->num_layers = (int)m->layers;
    out->num_heads = (int)m->heads;
    out->intermediate_size = (int)m->intermediate;
    out->max_position_embeddings = (int)m->max_positions;
    out->type_vocab_size = (int)m->type_vocab;
    out->hidden_dropout = (float)m->dropout;
    out->attention_dropout = (float)m->attention_dropout;
    out->layer_norm_eps = (float)m->layer_norm_eps;
    out->initializer_range = (float)m->initializer_range;
    out->activation = m->activation;
    return encoder_config_check(out);
}

int schedule_from_config(bienc_schedule *s, const bienc_cfg_schedule *c, int64_t total_steps)
{
    BIENC_ASSERT(s && c);
    int rc = schedule_init(s, c->name, config_warmup_steps(c, total_steps), total_steps);
    return rc < 0 ? bienc_error_context(rc, "schedule: ") : 0;
}

void adamw_config_from(bienc_adamw_config *out, const bienc_cfg_optim *c)
{
    adamw_config_default(out);
    if (!c) return;
    out->lr = c->lr;
    out->weight_decay = c->weight_decay;
    if (c->betas.n == 2) {
        out->beta1 = c->betas.v[0];
        out->beta2 = c->betas.v[1];
    }
    out->eps = c->eps;
    out->max_grad_norm = c->max_grad_norm;
    out->grad_accumulation = (int)c->grad_accumulation;
}

