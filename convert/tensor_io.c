/*
 * tensor_io.c - .npy and TensorProto files, and sessions opened from files
 * (tensor_io.h). The .npy header is a Python dict literal; only the three
 * keys numpy writes are read ('descr', 'fortran_order', 'shape'). A
 * TensorProto's elements come from raw_data or from the typed field ONNX
 * assigns to its dtype (float_data, int32_data, ...). Sequences and
 * optionals are read into a tree of views (their tensors read as above),
 * then packed into one block with ferry_value_copy; written as a tree of
 * protos whose tensors point at the value's data.
 */
#include "tensor_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "convert.h"
#include "onnx.pb-c.h"

/* ---- files ---- */

static char *read_file(const char *path, size_t *len, ferry_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno)), NULL;
  struct stat st;
  char *buf = NULL;
  if (fstat(fileno(f), &st) == 0 && (buf = malloc((size_t)st.st_size + 1)))
    *len = fread(buf, 1, (size_t)st.st_size, f);
  if (!buf || ferror(f) || *len != (size_t)st.st_size) {
    free(buf);
    buf = NULL;
    ferry_fail(err, FERRY_E_INPUT, "%s: cannot read it", path);
  }
  fclose(f);
  return buf;
}

static int write_file(const char *path, const void *a, size_t na, const void *b, size_t nb, ferry_err *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return ferry_fail(err, FERRY_E_SYSTEM, "%s: %s", path, strerror(errno));
  int ok = fwrite(a, 1, na, f) == na && (!nb || fwrite(b, 1, nb, f) == nb);
  if (fclose(f) || !ok) {
    unlink(path);
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot write it", path);
  }
  return 0;
}

static size_t elem_bytes(int dtype, int64_t numel) {
  int s = ferry_dtype_size(dtype);
  if (dtype == FERRY_U4 || dtype == FERRY_I4) return (size_t)(numel / 2 + numel % 2);
  return s > 0 && numel >= 0 ? (size_t)numel * (size_t)s : SIZE_MAX;
}

static void *tensor_buf(ferry_host_tensor *t, size_t bytes) {
  if (posix_memalign(&t->buf, 64, bytes ? bytes : 1)) t->buf = NULL;
  t->v.data = t->buf;
  return t->buf;
}

void ferry_host_tensor_free(ferry_host_tensor *t) {
  free(t->buf);
  free(t->name);
  memset(t, 0, sizeof *t);
}

/* ---- .npy ---- */

static const struct {
  const char *code;
  int dtype;
} npy_codes[] = {
    {"f4", FERRY_F32}, {"f8", FERRY_F64}, {"f2", FERRY_F16}, {"i1", FERRY_I8}, {"u1", FERRY_U8},
    {"i2", FERRY_I16}, {"u2", FERRY_U16}, {"i4", FERRY_I32}, {"u4", FERRY_U32}, {"i8", FERRY_I64},
    {"u8", FERRY_U64}, {"b1", FERRY_BOOL}, {"c8", FERRY_C64}, {"c16", FERRY_C128},
};

static int npy_dtype(const char *descr) {
  if (descr[0] == '>' && strcmp(descr + 1, "i1") && strcmp(descr + 1, "u1") && strcmp(descr + 1, "b1")) return -1;
  if (descr[0] == '<' || descr[0] == '|' || descr[0] == '=' || descr[0] == '>') descr++;
  for (size_t i = 0; i < sizeof npy_codes / sizeof *npy_codes; i++)
    if (strcmp(descr, npy_codes[i].code) == 0) return npy_codes[i].dtype;
  return -1;
}

static const char *npy_code(int dtype) {
  for (size_t i = 0; i < sizeof npy_codes / sizeof *npy_codes; i++)
    if (npy_codes[i].dtype == dtype) return npy_codes[i].code;
  return NULL;
}

/* The quoted value after key 'name' in the header, into out. */
static int npy_str(const char *h, const char *name, char *out, size_t n) {
  const char *p = strstr(h, name);
  if (!p || !(p = strchr(p + strlen(name), ':'))) return -1;
  while (*++p == ' ') {}
  if (*p != '\'' && *p != '"') return -1;
  char q = *p++;
  size_t k = 0;
  while (*p && *p != q && k + 1 < n) out[k++] = *p++;
  out[k] = 0;
  return *p == q ? 0 : -1;
}

static int npy_shape(const char *h, ferry_tview *v) {
  const char *p = strstr(h, "'shape'");
  if (!p || !(p = strchr(p, '('))) return -1;
  v->rank = 0;
  for (p++;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') return 0;
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || v->rank == FERRY_MAX_RANK) return -1;
    v->dims[v->rank++] = d;
    p = end;
    if (*p == 'L') p++;
  }
}

static int npy_header(const char *buf, size_t len, size_t *hlen, char **h) {
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) return -1;
  unsigned major = (unsigned char)buf[6];
  size_t at = major == 1 ? 10 : 12;
  if (major < 1 || major > 3 || len < at) return -1;
  const unsigned char *u = (const unsigned char *)buf + 8;
  size_t n = major == 1 ? (size_t)(u[0] | u[1] << 8) : (size_t)u[0] | (size_t)u[1] << 8 | (size_t)u[2] << 16 | (size_t)u[3] << 24;
  if (n > len - at || !(*h = malloc(n + 1))) return -1;
  memcpy(*h, buf + at, n);
  (*h)[n] = 0;
  *hlen = at + n;
  return 0;
}

static int read_npy(const char *path, const char *buf, size_t len, ferry_host_tensor *t, ferry_err *err) {
  size_t off;
  char *h = NULL, descr[16], *fo;
  if (npy_header(buf, len, &off, &h)) return ferry_fail(err, FERRY_E_INPUT, "%s: not a valid .npy file", path);
  int dt = npy_str(h, "'descr'", descr, sizeof descr) ? -1 : npy_dtype(descr);
  int fortran = (fo = strstr(h, "'fortran_order'")) && strstr(fo, "True") && strstr(fo, "True") < strchr(fo, ',');
  int bad_shape = npy_shape(h, &t->v);
  free(h);
  if (dt < 0) return ferry_fail(err, FERRY_E_INPUT, "%s: .npy dtype '%s' is not supported", path, descr);
  if (fortran) return ferry_fail(err, FERRY_E_INPUT, "%s: Fortran-order .npy files are not supported", path);
  if (bad_shape) return ferry_fail(err, FERRY_E_INPUT, "%s: cannot read the .npy shape", path);
  t->v.dtype = dt;
  t->v.numel = 1;
  for (int i = 0; i < t->v.rank; i++)
    if (__builtin_mul_overflow(t->v.numel, t->v.dims[i], &t->v.numel))
      return ferry_fail(err, FERRY_E_INPUT, "%s: the shape is too large", path);
  size_t bytes = elem_bytes(dt, t->v.numel);
  if (bytes == SIZE_MAX || bytes > len - off)
    return ferry_fail(err, FERRY_E_INPUT, "%s: the data is shorter than the shape says", path);
  if (!tensor_buf(t, bytes)) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  memcpy(t->buf, buf + off, bytes);
  return 0;
}

int ferry_tensor_write_npy(const char *path, const ferry_tview *t, ferry_err *err) {
  const char *code = npy_code(t->dtype);
  if (!code) return ferry_fail(err, FERRY_E_INPUT, "%s: numpy has no %s dtype", path, ferry_dtype_name(t->dtype));
  char h[1024], shape[512] = "";
  size_t p = 0;
  for (int i = 0; i < t->rank && p < sizeof shape - 32; i++)
    p += (size_t)snprintf(shape + p, sizeof shape - p, "%lld%s", (long long)t->dims[i], t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
  int n = snprintf(h + 10, sizeof h - 10, "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }",
                   t->dtype == FERRY_BOOL || ferry_dtype_size(t->dtype) == 1 ? '|' : '<', code, shape);
  size_t total = (size_t)n + 10 + 1;
  size_t padded = (total + 63) / 64 * 64;
  memset(h + 10 + n, ' ', padded - total);
  h[padded - 1] = '\n';
  memcpy(h, "\x93NUMPY\x01\x00", 8);
  h[8] = (char)((padded - 10) & 0xff);
  h[9] = (char)((padded - 10) >> 8);
  return write_file(path, h, padded, t->data, elem_bytes(t->dtype, t->numel), err);
}

/* ---- TensorProto ---- */

/* Entries of the typed field that holds dtype's elements, and how many the
 * shape needs; 1 when they agree. */
static int typed_count_ok(const Onnx__TensorProto *tp, int dt, int64_t n) {
  size_t have;
  int64_t want = n;
  if (dt == FERRY_F32 || dt == FERRY_C64) have = tp->n_float_data, want = dt == FERRY_C64 ? 2 * n : n;
  else if (dt == FERRY_F64 || dt == FERRY_C128) have = tp->n_double_data, want = dt == FERRY_C128 ? 2 * n : n;
  else if (dt == FERRY_I64) have = tp->n_int64_data;
  else if (dt == FERRY_U32 || dt == FERRY_U64) have = tp->n_uint64_data;
  else if (dt == FERRY_U4 || dt == FERRY_I4) have = tp->n_int32_data, want = n / 2 + n % 2;
  else have = tp->n_int32_data;
  return (int64_t)have == want;
}

/* Copies the typed field of tp that holds dtype's elements into t. */
static int typed_fields(const Onnx__TensorProto *tp, ferry_host_tensor *t) {
  int dt = t->v.dtype;
  int64_t n = t->v.numel;
  if (dt == FERRY_F32 || dt == FERRY_C64) {
    int64_t k = dt == FERRY_C64 ? 2 * n : n;
    if ((int64_t)tp->n_float_data != k) return -1;
    if (k) memcpy(t->buf, tp->float_data, (size_t)k * 4);
  } else if (dt == FERRY_F64 || dt == FERRY_C128) {
    int64_t k = dt == FERRY_C128 ? 2 * n : n;
    if ((int64_t)tp->n_double_data != k) return -1;
    if (k) memcpy(t->buf, tp->double_data, (size_t)k * 8);
  } else if (dt == FERRY_I64) {
    if ((int64_t)tp->n_int64_data != n) return -1;
    if (n) memcpy(t->buf, tp->int64_data, (size_t)n * 8);
  } else if (dt == FERRY_U32 || dt == FERRY_U64) {
    if ((int64_t)tp->n_uint64_data != n) return -1;
    for (int64_t i = 0; i < n; i++) {
      if (dt == FERRY_U32) ((uint32_t *)t->buf)[i] = (uint32_t)tp->uint64_data[i];
      else ((uint64_t *)t->buf)[i] = tp->uint64_data[i];
    }
  } else if (dt == FERRY_U4 || dt == FERRY_I4) {
    int64_t k = n / 2 + n % 2;
    if ((int64_t)tp->n_int32_data != k) return -1;
    for (int64_t i = 0; i < k; i++) ((uint8_t *)t->buf)[i] = (uint8_t)tp->int32_data[i];
  } else {
    int s = ferry_dtype_size(dt);
    if ((int64_t)tp->n_int32_data != n || s <= 0 || s > 4) return -1;
    for (int64_t i = 0; i < n; i++) {
      int32_t v = tp->int32_data[i];
      memcpy((char *)t->buf + i * s, &v, (size_t)s); /* little-endian: the low bytes */
    }
  }
  return 0;
}

static int from_proto(const char *path, const Onnx__TensorProto *tp, ferry_host_tensor *t, ferry_err *err) {
  int dt = tp->data_type;
  if (!ferry_dtype_valid(dt) || !dt || dt == FERRY_STRING)
    return ferry_fail(err, FERRY_E_INPUT, "%s: tensors of dtype %s are not supported", path, ferry_dtype_name(dt));
  if (tp->n_external_data || tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
    return ferry_fail(err, FERRY_E_INPUT, "%s: external data is not supported here", path);
  if (tp->n_dims > FERRY_MAX_RANK) return ferry_fail(err, FERRY_E_INPUT, "%s: rank %zu is too high", path, tp->n_dims);
  t->v.dtype = dt;
  t->v.rank = (int)tp->n_dims;
  t->v.numel = 1;
  for (int i = 0; i < t->v.rank; i++)
    if ((t->v.dims[i] = tp->dims[i]) < 0 || __builtin_mul_overflow(t->v.numel, t->v.dims[i], &t->v.numel))
      return ferry_fail(err, FERRY_E_INPUT, "%s: bad dims", path);
  size_t bytes = elem_bytes(dt, t->v.numel);
  if (bytes == SIZE_MAX) return ferry_fail(err, FERRY_E_INPUT, "%s: the tensor is too large", path);
  if (tp->has_raw_data && tp->raw_data.len != bytes)
    return ferry_fail(err, FERRY_E_INPUT, "%s: raw_data has %zu bytes, the shape needs %zu", path, tp->raw_data.len, bytes);
  if (!tp->has_raw_data && !typed_count_ok(tp, dt, t->v.numel))
    return ferry_fail(err, FERRY_E_INPUT, "%s: the element count does not match the shape", path);
  if (!tensor_buf(t, bytes)) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  if (tp->name && *tp->name && !(t->name = strdup(tp->name))) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  if (tp->has_raw_data) {
    if (bytes) memcpy(t->buf, tp->raw_data.data, bytes);
  } else if (typed_fields(tp, t)) {
    return ferry_fail(err, FERRY_E_INPUT, "%s: the element count does not match the shape", path);
  }
  return 0;
}

static int read_pb(const char *path, const char *buf, size_t len, ferry_host_tensor *t, ferry_err *err) {
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  if (!tp) return ferry_fail(err, FERRY_E_INPUT, "%s: neither a .npy file nor a TensorProto", path);
  int rc = from_proto(path, tp, t, err);
  onnx__tensor_proto__free_unpacked(tp, NULL);
  return rc;
}

int ferry_tensor_read_buffer(const char *path, const void *buf, size_t len, ferry_host_tensor *t, ferry_err *err) {
  memset(t, 0, sizeof *t);
  const char *b = buf;
  int rc = len >= 6 && memcmp(b, "\x93NUMPY", 6) == 0 ? read_npy(path, b, len, t, err)
                                                        : read_pb(path, b, len, t, err);
  if (rc) ferry_host_tensor_free(t);
  return rc;
}

int ferry_tensor_read(const char *path, ferry_host_tensor *t, ferry_err *err) {
  size_t len = 0;
  memset(t, 0, sizeof *t);
  char *buf = read_file(path, &len, err);
  if (!buf) return err->code;
  int rc = ferry_tensor_read_buffer(path, buf, len, t, err);
  free(buf);
  return rc;
}

int ferry_tensor_write_pb(const char *path, const char *name, const ferry_tview *t, ferry_err *err) {
  Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
  int64_t dims[FERRY_MAX_RANK];
  size_t bytes = elem_bytes(t->dtype, t->numel);
  if (bytes == SIZE_MAX) return ferry_fail(err, FERRY_E_INPUT, "%s: cannot write a %s tensor", path, ferry_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++) dims[i] = t->dims[i];
  tp.n_dims = (size_t)t->rank;
  tp.dims = dims;
  tp.has_data_type = 1;
  tp.data_type = t->dtype;
  tp.name = (char *)name;
  tp.has_raw_data = 1;
  tp.raw_data.len = bytes;
  tp.raw_data.data = t->data;
  size_t n = onnx__tensor_proto__get_packed_size(&tp);
  uint8_t *out = malloc(n ? n : 1);
  if (!out) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
  onnx__tensor_proto__pack(&tp, out);
  int rc = write_file(path, out, n, NULL, 0, err);
  free(out);
  return rc;
}

/* ---- SequenceProto and OptionalProto ---- */

#define MAX_NESTING 8

/* Allocations of a value being built or written, freed together. */
typedef struct pool {
  void **p;
  int n, cap;
} pool;

static void *pool_keep(pool *P, void *x) {
  if (!x) return NULL;
  if (P->n == P->cap) {
    int cap = P->cap ? 2 * P->cap : 16;
    void **p = realloc(P->p, (size_t)cap * sizeof *p);
    if (!p) return free(x), NULL;
    P->p = p, P->cap = cap;
  }
  return P->p[P->n++] = x;
}

static void *pool_calloc(pool *P, size_t n, size_t size) { return pool_keep(P, calloc(n ? n : 1, size)); }

static void pool_free(pool *P) {
  for (int i = 0; i < P->n; i++) free(P->p[i]);
  free(P->p);
}

typedef struct vread {
  const char *path;
  pool P;
  ferry_err *err;
} vread;

static int v_oom(vread *r) { return ferry_fail(r->err, FERRY_E_SYSTEM, "%s: out of memory", r->path); }

static int tensor_value(vread *r, const Onnx__TensorProto *tp, ferry_tview *v) {
  ferry_host_tensor h;
  memset(&h, 0, sizeof h);
  int rc = from_proto(r->path, tp, &h, r->err);
  free(h.name);
  if (h.buf && !pool_keep(&r->P, h.buf)) return v_oom(r);
  *v = h.v;
  return rc;
}

static int optional_value(vread *r, const Onnx__OptionalProto *op, ferry_tview *v, int depth);

static int sequence_value(vread *r, const Onnx__SequenceProto *sp, ferry_tview *v, int depth) {
  size_t n = sp->n_tensor_values + sp->n_sequence_values + sp->n_optional_values;
  if (depth > MAX_NESTING) return ferry_fail(r->err, FERRY_E_INPUT, "%s: sequences nest too deep", r->path);
  if (sp->n_sparse_tensor_values || (sp->elem_type != 0 && sp->elem_type != 1 && sp->elem_type != 3 && sp->elem_type != 5))
    return ferry_fail(r->err, FERRY_E_INPUT, "%s: sequences of sparse tensors or maps are not supported", r->path);
  if (n > INT32_MAX / 2) return ferry_fail(r->err, FERRY_E_INPUT, "%s: too many items", r->path);
  memset(v, 0, sizeof *v);
  v->kind = FERRY_TV_SEQUENCE;
  v->rank = -1;
  v->n_items = (int)n;
  if (!(v->items = pool_calloc(&r->P, n, sizeof *v->items))) return v_oom(r);
  int rc = 0;
  size_t k = 0;
  for (size_t i = 0; i < sp->n_tensor_values && !rc; i++) rc = tensor_value(r, sp->tensor_values[i], &v->items[k++]);
  for (size_t i = 0; i < sp->n_sequence_values && !rc; i++)
    rc = sequence_value(r, sp->sequence_values[i], &v->items[k++], depth + 1);
  for (size_t i = 0; i < sp->n_optional_values && !rc; i++)
    rc = optional_value(r, sp->optional_values[i], &v->items[k++], depth + 1);
  v->dtype = n ? v->items[0].dtype : 0;
  return rc;
}

static int optional_value(vread *r, const Onnx__OptionalProto *op, ferry_tview *v, int depth) {
  if (depth > MAX_NESTING) return ferry_fail(r->err, FERRY_E_INPUT, "%s: optionals nest too deep", r->path);
  if (op->sparse_tensor_value || op->elem_type == 2 || op->elem_type == 4)
    return ferry_fail(r->err, FERRY_E_INPUT, "%s: optional sparse tensors or maps are not supported", r->path);
  memset(v, 0, sizeof *v);
  v->kind = FERRY_TV_OPTIONAL;
  v->rank = -1;
  if (!op->tensor_value && !op->sequence_value && !op->optional_value) return 0; /* none */
  v->n_items = 1;
  if (!(v->items = pool_calloc(&r->P, 1, sizeof *v->items))) return v_oom(r);
  int rc = op->tensor_value     ? tensor_value(r, op->tensor_value, v->items)
           : op->sequence_value ? sequence_value(r, op->sequence_value, v->items, depth + 1)
                                : optional_value(r, op->optional_value, v->items, depth + 1);
  v->dtype = v->items[0].dtype;
  return rc;
}

/* The value tree in r's pool, copied into one block of t's. */
static int pack_value(vread *r, const ferry_tview *v, const char *name, ferry_host_tensor *t) {
  size_t bytes = ferry_value_bytes(v);
  if (bytes == SIZE_MAX)
    return ferry_fail(r->err, FERRY_E_INPUT, "%s: a malformed value (items of different dtypes?)", r->path);
  if (!tensor_buf(t, bytes)) return v_oom(r);
  ferry_value_copy(&t->v, v, t->buf);
  if (name && *name && !(t->name = strdup(name))) return v_oom(r);
  return 0;
}

int ferry_value_read(const char *path, int kind, ferry_host_tensor *t, ferry_err *err) {
  if (kind == FERRY_TV_TENSOR) return ferry_tensor_read(path, t, err);
  if (kind != FERRY_TV_SEQUENCE && kind != FERRY_TV_OPTIONAL)
    return memset(t, 0, sizeof *t), ferry_fail(err, FERRY_E_INPUT, "%s: values of kind %d cannot be read", path, kind);
  size_t len = 0;
  memset(t, 0, sizeof *t);
  char *buf = read_file(path, &len, err);
  if (!buf) return err->code;
  vread r = {.path = path, .err = err};
  ferry_tview v;
  int rc;
  if (kind == FERRY_TV_SEQUENCE) {
    Onnx__SequenceProto *sp = onnx__sequence_proto__unpack(NULL, len, (const uint8_t *)buf);
    rc = !sp ? ferry_fail(err, FERRY_E_INPUT, "%s: not a SequenceProto", path) : sequence_value(&r, sp, &v, 0);
    if (!rc) rc = pack_value(&r, &v, sp->name, t);
    if (sp) onnx__sequence_proto__free_unpacked(sp, NULL);
  } else {
    Onnx__OptionalProto *op = onnx__optional_proto__unpack(NULL, len, (const uint8_t *)buf);
    rc = !op ? ferry_fail(err, FERRY_E_INPUT, "%s: not an OptionalProto", path) : optional_value(&r, op, &v, 0);
    if (!rc) rc = pack_value(&r, &v, op->name, t);
    if (op) onnx__optional_proto__free_unpacked(op, NULL);
  }
  pool_free(&r.P);
  free(buf);
  if (rc) ferry_host_tensor_free(t);
  return rc;
}

/* Protos of a value, their parts in P (the tensors' data stays v's). */
static Onnx__TensorProto *tensor_proto(pool *P, const char *name, const ferry_tview *t) {
  Onnx__TensorProto *tp = pool_calloc(P, 1, sizeof *tp);
  int64_t *dims = pool_calloc(P, (size_t)t->rank + 1, sizeof *dims);
  size_t bytes = elem_bytes(t->dtype, t->numel);
  if (!tp || !dims || bytes == SIZE_MAX) return NULL;
  onnx__tensor_proto__init(tp);
  for (int i = 0; i < t->rank; i++) dims[i] = t->dims[i];
  tp->n_dims = (size_t)t->rank;
  tp->dims = dims;
  tp->has_data_type = 1;
  tp->data_type = t->dtype;
  tp->name = (char *)name;
  tp->has_raw_data = 1;
  tp->raw_data.len = bytes;
  tp->raw_data.data = t->data;
  return tp;
}

static Onnx__OptionalProto *optional_proto(pool *P, const char *name, const ferry_tview *v, int depth);

static int proto_type(const ferry_tview *v) {
  return v->kind == FERRY_TV_SEQUENCE ? 3 : v->kind == FERRY_TV_OPTIONAL ? 5 : 1;
}

static Onnx__SequenceProto *sequence_proto(pool *P, const char *name, const ferry_tview *v, int depth) {
  Onnx__SequenceProto *sp = pool_calloc(P, 1, sizeof *sp);
  if (!sp || depth > MAX_NESTING) return NULL;
  onnx__sequence_proto__init(sp);
  sp->name = (char *)name;
  sp->has_elem_type = 1;
  sp->elem_type = v->n_items ? proto_type(&v->items[0]) : 1;
  void **items = pool_calloc(P, (size_t)v->n_items, sizeof *items);
  if (!items) return NULL;
  for (int i = 0; i < v->n_items; i++) {
    const ferry_tview *it = &v->items[i];
    if (proto_type(it) != sp->elem_type) return NULL;
    items[i] = it->kind == FERRY_TV_SEQUENCE   ? (void *)sequence_proto(P, name, it, depth + 1)
               : it->kind == FERRY_TV_OPTIONAL ? (void *)optional_proto(P, name, it, depth + 1)
                                               : (void *)tensor_proto(P, name, it);
    if (!items[i]) return NULL;
  }
  if (sp->elem_type == 1) sp->n_tensor_values = (size_t)v->n_items, sp->tensor_values = (Onnx__TensorProto **)items;
  if (sp->elem_type == 3) sp->n_sequence_values = (size_t)v->n_items, sp->sequence_values = (Onnx__SequenceProto **)items;
  if (sp->elem_type == 5) sp->n_optional_values = (size_t)v->n_items, sp->optional_values = (Onnx__OptionalProto **)items;
  return sp;
}

static Onnx__OptionalProto *optional_proto(pool *P, const char *name, const ferry_tview *v, int depth) {
  Onnx__OptionalProto *op = pool_calloc(P, 1, sizeof *op);
  if (!op || depth > MAX_NESTING) return NULL;
  onnx__optional_proto__init(op);
  op->name = (char *)name;
  op->has_elem_type = 1;
  if (!v->n_items) return op; /* none: UNDEFINED, no value */
  const ferry_tview *it = &v->items[0];
  op->elem_type = proto_type(it);
  if (it->kind == FERRY_TV_SEQUENCE) return (op->sequence_value = sequence_proto(P, name, it, depth + 1)) ? op : NULL;
  if (it->kind == FERRY_TV_OPTIONAL) return (op->optional_value = optional_proto(P, name, it, depth + 1)) ? op : NULL;
  return (op->tensor_value = tensor_proto(P, name, it)) ? op : NULL;
}

int ferry_value_write_pb(const char *path, const char *name, const ferry_tview *v, ferry_err *err) {
  if (v->kind == FERRY_TV_TENSOR) return ferry_tensor_write_pb(path, name, v, err);
  pool P = {0};
  int rc;
  const ProtobufCMessage *m = ferry_value_bytes(v) == SIZE_MAX ? NULL
                              : v->kind == FERRY_TV_SEQUENCE ? (const ProtobufCMessage *)sequence_proto(&P, name, v, 0)
                              : v->kind == FERRY_TV_OPTIONAL ? (const ProtobufCMessage *)optional_proto(&P, name, v, 0)
                                                             : NULL;
  if (!m) {
    rc = ferry_fail(err, FERRY_E_INPUT, "%s: cannot write this value (kind %d)", path, v->kind);
  } else {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(n ? n : 1);
    if (!out) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", path);
    else {
      protobuf_c_message_pack(m, out);
      rc = write_file(path, out, n, NULL, 0, err);
    }
    free(out);
  }
  pool_free(&P);
  return rc;
}

void ferry_file_safe_name(const char *name, char *out, size_t n) {
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < n; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out[k] = ok && !(k == 0 && c == '.') ? c : '_';
    k++;
  }
  if (k == 0 && n > 1) out[k++] = '_';
  out[k] = 0;
}

/* ---- sessions from files ---- */

int ferry_host_inflate(void *user, const void *src, size_t n, void *dst, size_t raw) {
  uLongf out = (uLongf)raw;
  (void)user;
  return uncompress(dst, &out, src, (uLong)n) == Z_OK && out == raw ? 0 : -1;
}

static int map_file(const char *path, void **map, size_t *len, ferry_err *err) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    if (fd >= 0) close(fd);
    return ferry_fail(err, FERRY_E_INPUT, "%s: %s", path, strerror(errno));
  }
  *len = (size_t)st.st_size;
  *map = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  close(fd);
  if (*len && *map == MAP_FAILED) {
    *map = NULL;
    return ferry_fail(err, FERRY_E_SYSTEM, "%s: cannot map it: %s", path, strerror(errno));
  }
  return 0;
}

void ferry_host_model_free(ferry_host_model *hm) {
  for (int k = 0; k < hm->n; k++)
    if (hm->maps[k]) munmap(hm->maps[k], hm->lens[k]);
  free(hm->maps);
  free(hm->lens);
  memset(hm, 0, sizeof *hm);
}

/* Maps shard k of the bundle at `path` (k > 0: path.k). */
static int map_shard(const char *path, int k, ferry_host_model *hm, ferry_err *err) {
  char p[4096];
  if (k) snprintf(p, sizeof p, "%s.%d", path, k);
  else snprintf(p, sizeof p, "%s", path);
  if (k >= hm->n) {
    void **m = realloc(hm->maps, (size_t)(k + 1) * sizeof *m);
    if (m) hm->maps = m;
    size_t *l = realloc(hm->lens, (size_t)(k + 1) * sizeof *l);
    if (l) hm->lens = l;
    if (!m || !l) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
    for (; hm->n <= k; hm->n++) hm->maps[hm->n] = NULL, hm->lens[hm->n] = 0;
  }
  return map_file(p, &hm->maps[k], &hm->lens[k], err);
}

static ferry_session *open_bundle(const char *path, const ferry_session_opts *opts, ferry_host_model *hm,
                                  ferry_err *err) {
  ferry_session_opts o = opts ? *opts : (ferry_session_opts){0};
  if (!o.inflate) o.inflate = ferry_host_inflate;
  if (map_shard(path, 0, hm, err)) return NULL;
  ferry_session *s = ferry_session_open(hm->maps[0], hm->lens[0], &o, err);
  for (int k = 1; s && k < ferry_session_n_shards(s); k++) {
    if (map_shard(path, k, hm, err) || ferry_session_add_shard(s, k, hm->maps[k], hm->lens[k], err)) {
      ferry_session_close(s);
      s = NULL;
    }
  }
  return s;
}

static void remove_bundle(const char *dir, const char *path) {
  char p[4300];
  unlink(path);
  for (int k = 1;; k++) {
    snprintf(p, sizeof p, "%s.%d", path, k);
    if (unlink(p)) break;
  }
  rmdir(dir);
}

static ferry_session *open_onnx(const char *path, const ferry_session_opts *opts, ferry_host_model *hm,
                                ferry_err *err) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096], out[4200];
  snprintf(dir, sizeof dir, "%s/ferry-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return ferry_fail(err, FERRY_E_SYSTEM, "cannot make a temporary folder: %s", strerror(errno)), NULL;
  snprintf(out, sizeof out, "%s/model.ferry", dir);
  ferry_session *s = NULL;
  if (ferry_convert_file(path, out, NULL, NULL, err) == 0) {
    s = open_bundle(out, opts, hm, err);
    hm->converted = 1;
  }
  remove_bundle(dir, out); /* the mappings keep the bytes */
  if (!s && strncmp(err->msg, path, strlen(path))) ferry_err_prefix(err, path);
  return s;
}

ferry_session *ferry_host_session_open(const char *path, const ferry_session_opts *opts, ferry_host_model *hm,
                                       ferry_err *err) {
  memset(hm, 0, sizeof *hm);
  ferry_session *s = NULL;
  if (!ferry_is_bundle(path)) s = open_onnx(path, opts, hm, err);
  else if (!(s = open_bundle(path, opts, hm, err)) && strncmp(err->msg, path, strlen(path)))
    ferry_err_prefix(err, path);
  if (!s) ferry_host_model_free(hm);
  return s;
}
