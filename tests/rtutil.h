/*
 * rtutil.h - what the runtime tests share: comparing an output with a
 * reference tensor as ONNX's runner does (dtype, shape, then every element
 * within atol + rtol*|want|, NaN equal to NaN), sequences and optionals
 * item by item, reading the tensors and values of a test_data_set folder,
 * and removing a folder tree.
 */
#ifndef FERRY_RTUTIL_H
#define FERRY_RTUTIL_H

#include <stddef.h>

#include "ferry.h"
#include "tensor_io.h"

typedef struct rtu_diff {
  double max_abs;     /* largest |got - want| over float elements */
  double max_ratio;   /* largest |got - want| / (atol + rtol*|want|) */
  long long bad;      /* elements outside the tolerance */
} rtu_diff;

/* 0 when got matches want within (rtol, atol); else 1 with msg saying
 * where (the first bad element) and *d the error statistics. */
int rtu_compare(const ferry_tview *got, const ferry_tview *want, double rtol, double atol, rtu_diff *d,
                char *msg, size_t n);

/* How many files PREFIX_0.pb, PREFIX_1.pb ... follow each other in dir. */
int rtu_count(const char *dir, const char *prefix);
/* Reads PREFIX_0.pb .. PREFIX_{n-1}.pb of dir into t[] (free each with
 * ferry_host_tensor_free, also after a failure). */
int rtu_read_set(const char *dir, const char *prefix, int n, ferry_host_tensor *t, ferry_err *err);

/* Like rtu_compare for values of every kind: kinds, item counts, then
 * item by item (msg says which item) with the same tolerance. */
int rtu_compare_value(const ferry_tview *got, const ferry_tview *want, double rtol, double atol, rtu_diff *d,
                      char *msg, size_t n);
/* Like rtu_read_set, file k read as a value of kind kinds[k] (0 tensor, 1
 * SequenceProto, 2 OptionalProto; kinds NULL: all tensors). */
int rtu_read_values(const char *dir, const char *prefix, int n, const int *kinds, ferry_host_tensor *t, ferry_err *err);

void rtu_rm_tree(const char *dir);

#endif
