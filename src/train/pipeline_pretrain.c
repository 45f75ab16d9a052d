/* The pretrain stage of `bienc run` (pretrain.enabled): MLM pre-training on the run's
 * vocabulary (src/train/pretrain.h), then the bi-encoder and the teacher start from the
 * pre-trained encoder. With --reuse a finished pre-training of the same run is kept. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/encoder.h"
#include "train/pretrain.h"
#include "train/pipeline_internal.h"
#include "train/config_map.h"

/* The teacher can start from the pre-trained encoder when its encoder has the same shapes
 * (more token types are fine: the teacher's warm start copies the stored rows). */
static int same_encoder(const bienc_run_config *c)
{
    bienc_encoder_config a, b;
    if (config_encoder_config(&c->model, 1000, &a) < 0 || config_encoder_config(&c->teacher.model, 1000, &b) < 0) return 0;
    return a.hidden_size == b.hidden_size && a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
           a.intermediate_size == b.intermediate_size && a.max_position_embeddings == b.max_position_embeddings &&
           a.type_vocab_size <= b.type_vocab_size;
}

int pipe_stage_pretrain(pipe_ctx *p)
{
    bienc_train_opts to;
    pipe_train_opts(p, &to);
    if (p->o->reuse) to.resume = "auto"; /* continues (or keeps) an earlier run's pre-training */
    else to.overwrite = 1;               /* `bienc run` redoes the job */
    bienc_train_result tr;
    int rc = pretrain_run(&p->work, &to, &tr);
    if (rc == 0 && tr.stopped == 1)
        rc = bienc_error(BIENC_EINTERRUPT, "bienc run: stopped during pre-training (step %lld)", (long long)tr.steps);
    if (rc == 0 && !tr.last_ckpt[0]) rc = bienc_error(BIENC_ESTATE, "bienc run: the pre-training wrote no checkpoint");
    if (rc == 0) {
        snprintf(p->pretrained, sizeof p->pretrained, "%s", tr.last_ckpt);
        p->work.model.init_from = p->pretrained;
        if (p->cfg->teacher.enabled && !p->work.teacher.model.init_from) {
            if (same_encoder(p->cfg)) p->work.teacher.model.init_from = p->pretrained;
            else pipe_log(p, "   the teacher's encoder differs from model: (shapes): it starts from scratch\n");
        }
        pipe_log(p, "   pre-trained encoder: %s (MLM loss %.4f after %lld steps)\n", p->pretrained, tr.final_loss,
                 (long long)tr.steps);
    }
    train_result_free(&tr);
    return rc;
}
