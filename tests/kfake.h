/*
 * kfake.h - calling one kernel directly in a unit test, without an
 * executor: tensors and attributes built by hand, scratch and outputs from
 * malloc (freed by kf_free), parallel() run inline, no subgraphs and no
 * sequence or optional outputs (run_graph and set_items fail).
 *
 *   kf_call c;
 *   kf_init(&c, 13);
 *   kf_in(&c, FERRY_F32, 2, (int64_t[]){2, 3}, data);
 *   kf_out(&c, FERRY_F32, 2, (int64_t[]){2, 3});   // or kf_out_unknown(&c)
 *   kf_attr_int(&c, "axis", 1);
 *   int rc = kf_run(&c, ferry_kernel_Softmax);     // c.k.out[0].data holds the result
 *   kf_free(&c);
 */
#ifndef FERRY_KFAKE_H
#define FERRY_KFAKE_H

#include "kernel.h"

#define KF_MAX 16

typedef struct kf_attr {
  const char *name;
  ferry_attrv v;
} kf_attr;

typedef struct kf_call {
  ferry_kctx k;
  ferry_shape_ctx s;
  ferry_tview in[KF_MAX], out[KF_MAX];
  kf_attr attrs[KF_MAX];
  int n_attrs;
  void *owned[256];
  int n_owned;
} kf_call;

void kf_init(kf_call *c, int opset);
/* Adds an input; data is copied. dtype 0: an omitted optional input. */
void kf_in(kf_call *c, int dtype, int rank, const int64_t *dims, const void *data);
/* Adds an output with a known shape (allocated, filled with 0xAB bytes). */
void kf_out(kf_call *c, int dtype, int rank, const int64_t *dims);
/* Adds an output whose shape the kernel must set with set_output(). */
void kf_out_unknown(kf_call *c);
void kf_attr_int(kf_call *c, const char *name, int64_t v);
void kf_attr_float(kf_call *c, const char *name, float v);
void kf_attr_ints(kf_call *c, const char *name, int n, const int64_t *v);
void kf_attr_floats(kf_call *c, const char *name, int n, const float *v);
void kf_attr_string(kf_call *c, const char *name, const char *s);
int kf_run(kf_call *c, ferry_kernel_fn fn);
/* A parallel() for c.k.parallel that splits [0, n) into uneven chunks run
 * in reverse order: kernels must not depend on how work is split. */
void kf_chunky_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg);
void kf_free(kf_call *c);

#endif
