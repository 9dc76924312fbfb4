/*
 * bench/benchctx.h - what bench/gemm.c and bench/winograd.c share: a kernel
 * context of their own (scratch from malloc, released after each call;
 * parallel loops run inline: one thread; one persist buffer, so a constant
 * W is packed or transformed once as in a session) and a wall clock.
 * Header-only (static functions): each benchmark is one program.
 */
#ifndef FERRY_BENCHCTX_H
#define FERRY_BENCHCTX_H

#include <stdlib.h>
#include <time.h>

#include "kernel.h"

typedef struct bench_ctx {
  ferry_kctx k;
  void *owned[64];
  int n_owned;
  void *keep;
  size_t keep_bytes;
} bench_ctx;

static void *bench_scratch(ferry_kctx *k, size_t n) {
  bench_ctx *b = (bench_ctx *)k;
  void *p = NULL;
  if (b->n_owned == 64 || posix_memalign(&p, 64, n ? n : 1)) return NULL;
  return b->owned[b->n_owned++] = p;
}

static void *bench_persist(ferry_kctx *k, size_t n, int *fresh) {
  bench_ctx *b = (bench_ctx *)k;
  *fresh = 0;
  if (b->keep && b->keep_bytes == n) return b->keep;
  free(b->keep);
  b->keep = NULL;
  if (posix_memalign(&b->keep, 64, n ? n : 1)) return NULL;
  b->keep_bytes = n, *fresh = 1;
  return b->keep;
}

static void bench_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)k;
  if (n > 0) fn(arg, 0, n);
}

/* Frees the scratch of the last call (the persist buffer stays). */
static void bench_release(bench_ctx *b) {
  for (int i = 0; i < b->n_owned; i++) free(b->owned[i]);
  b->n_owned = 0;
}

/* A context with the callbacks set; W and B (inputs 1, 2) constant when
 * const_w (packed once into the persist buffer). */
static void bench_init(bench_ctx *b, int const_w) {
  memset(b, 0, sizeof *b);
  b->k.scratch = bench_scratch, b->k.parallel = bench_parallel, b->k.persist = bench_persist;
  b->k.const_in = const_w ? 2 | 4 : 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
