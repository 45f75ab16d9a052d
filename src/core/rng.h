/* Random numbers. Two kinds, both fully determined by a seed:
 *  - bienc_rng: a sequential generator (xoshiro256**) for initialisation and shuffling;
 *    its state is four words, saved in checkpoints for exact resume.
 *  - rng_hash_*: counter-based values hash(key, index), for dropout masks: element i's
 *    value does not depend on which thread draws it or in which order. */
#ifndef BIENC_RNG_H
#define BIENC_RNG_H

#include <stdint.h>

typedef struct bienc_rng {
    uint64_t s[4];
} bienc_rng;

void rng_seed(bienc_rng *rng, uint64_t seed);
uint64_t rng_next_u64(bienc_rng *rng);
/* Uniform in [0, 1) with 24 bits of precision. */
float rng_uniform(bienc_rng *rng);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t rng_below(bienc_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, both values of a pair used in turn is avoided for
 * simplicity: one value per call keeps the stream easy to reason about). */
float rng_normal(bienc_rng *rng);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle_int(bienc_rng *rng, int *a, int64_t n);

/* Counter-based: a well-mixed 64-bit hash of (key, index) and a uniform [0,1) from it. */
uint64_t rng_hash_u64(uint64_t key, uint64_t index);
float rng_hash_uniform(uint64_t key, uint64_t index);

#endif
