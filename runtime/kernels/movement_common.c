/*
 * movement_common.c - what the movement kernels share (movement.h):
 * shaping or checking outputs, safe element counts, reading index tensors,
 * element copies by size, threading large loops, a stable sort, and the
 * blocked N-D permutation behind Transpose, DepthToSpace and SpaceToDepth.
 *
 * The permutation first drops size-1 axes and merges axes that stay
 * adjacent, so most transposes become a batch of 2-D transposes or, when
 * the last axis does not move, a gather of contiguous rows. 2-D transposes
 * go in 32-wide tiles so both sides stay in cache, 4-byte elements in 4x4
 * register blocks (vector shuffles), 8-byte ones in 2x2.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "movement.h"
#include "util.h"

int ferry_mv_numel(int rank, const int64_t *dims, int64_t *n) {
  int64_t p = 1, lim = (int64_t)1 << 53; /* the product of the nonzero dims too: no one's product overflows */
  int empty = 0;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0) return 0;
    if (dims[i] == 0) {
      empty = 1;
      continue;
    }
    if (p > lim / dims[i]) return 0;
    p *= dims[i];
  }
  *n = empty ? 0 : p;
  return 1;
}

static int same_dims(const ferry_tview *o, int rank, const int64_t *dims) {
  if (o->rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (o->dims[i] != dims[i]) return 0;
  return 1;
}

int ferry_mv_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  int64_t n;
  if (i >= k->n_out) return ferry_kernel_fail(k, "output %d is missing", i);
  if (rank < 0 || rank > FERRY_MAX_RANK) return ferry_kernel_fail(k, "output rank %d", rank);
  if (!ferry_mv_numel(rank, dims, &n)) return ferry_kernel_fail(k, "output %d is too large", i);
  ferry_tview *o = &k->out[i];
  if (o->data || (o->rank >= 0 && o->numel == 0 && n == 0 && same_dims(o, rank, dims))) {
    if (o->dtype != dtype) return ferry_kernel_fail(k, "output %d has dtype %d, the data gives %d", i, o->dtype, dtype);
    if (!same_dims(o, rank, dims) || o->numel != n) {
      char want[128] = "", got[128] = "";
      for (int d = 0, p = 0; d < rank && p < 100; d++)
        p += snprintf(want + p, sizeof want - (size_t)p, "%s%lld", d ? "," : "", (long long)dims[d]);
      for (int d = 0, p = 0; d < o->rank && d < FERRY_MAX_RANK && p < 100; d++)
        p += snprintf(got + p, sizeof got - (size_t)p, "%s%lld", d ? "," : "", (long long)o->dims[d]);
      return ferry_kernel_fail(k, "output %d is shaped [%s], the data gives [%s]", i, got, want);
    }
    return FERRY_OK;
  }
  int rc = k->set_output ? k->set_output(k, i, dtype, rank, dims) : FERRY_E_SYSTEM;
  if (rc) return k->err[0] ? rc : (ferry_kernel_fail(k, "cannot allocate output %d", i), rc);
  if (!o->data && o->numel != 0) return ferry_kernel_fail(k, "cannot allocate output %d", i), FERRY_E_SYSTEM;
  return FERRY_OK;
}

int ferry_mv_esize(ferry_kctx *k, int dtype, int *size) {
  *size = ferry_dtype_size(dtype);
  if (*size <= 0) return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(dtype));
  return FERRY_OK;
}


int ferry_mv_has(const ferry_kctx *k, int i) {
  return i < k->n_in && k->in[i].dtype && (k->in[i].data || k->in[i].numel == 0);
}

int64_t ferry_mv_int(const ferry_tview *t, int64_t i) {
  if (t->dtype == FERRY_I64) {
    int64_t v;
    memcpy(&v, (const char *)t->data + i * 8, 8);
    return v;
  }
  if (t->dtype == FERRY_I32) {
    int32_t v;
    memcpy(&v, (const char *)t->data + i * 4, 4);
    return v;
  }
  return ferry_load_i64(t->data, t->dtype, i);
}

int ferry_mv_wrap(int64_t *v, int64_t d) {
  if (*v < 0) *v += d;
  return *v >= 0 && *v < d ? 0 : -1;
}

void ferry_mv_store(void *data, int dt, int64_t i, double v, int round) {
  double lo, hi;
  if (ferry_dtype_is_float(dt)) {
    ferry_store_f64(data, dt, i, v);
    return;
  }
  if (v != v) v = 0;
  if (round) v = floor(v + 0.5);
  switch (dt) {
  case FERRY_BOOL: ferry_store_i64(data, dt, i, v != 0); return;
  case FERRY_I8: lo = -128, hi = 127; break;
  case FERRY_U8: lo = 0, hi = 255; break;
  case FERRY_I16: lo = -32768, hi = 32767; break;
  case FERRY_U16: lo = 0, hi = 65535; break;
  case FERRY_I32: lo = -2147483648.0, hi = 2147483647.0; break;
  case FERRY_U32: lo = 0, hi = 4294967295.0; break;
  case FERRY_U64:
    v = v < 0 ? 0 : v > 18446744073709549568.0 ? 18446744073709549568.0 : v;
    ferry_store_i64(data, dt, i, (int64_t)(uint64_t)v);
    return;
  default: lo = -9223372036854775808.0, hi = 9223372036854774784.0; break;
  }
  v = v < lo ? lo : v > hi ? hi : v;
  ferry_store_i64(data, dt, i, (int64_t)v);
}

void ferry_mv_copy(void *dst, const void *src, int size, int64_t n) {
  if (n > 0 && dst != src) memmove(dst, src, (size_t)n * (size_t)size);
}

void ferry_mv_parallel(ferry_kctx *k, int64_t n, int64_t cost, void (*fn)(void *, int64_t, int64_t), void *arg) {
  if (n <= 0) return;
  if (n == 1 || !k->parallel || (cost > 0 && n <= (int64_t)(1 << 16) / cost)) fn(arg, 0, n);
  else k->parallel(k, n, fn, arg);
}

/* ---- stable merge sort ---- */

void ferry_mv_sort(int64_t *idx, int64_t *tmp, int64_t n, int (*cmp)(const void *, int64_t, int64_t),
                   const void *ctx) {
  int64_t *a = idx, *b = tmp;
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, o = lo;
      while (i < mid && j < hi) b[o++] = cmp(ctx, a[j], a[i]) < 0 ? a[j++] : a[i++];
      while (i < mid) b[o++] = a[i++];
      while (j < hi) b[o++] = a[j++];
    }
    int64_t *t = a;
    a = b;
    b = t;
  }
  if (a != idx) memcpy(idx, a, (size_t)n * sizeof *idx);
}

/* ---- N-D permutation ---- */

#define TILE 32

typedef struct perm_plan {
  char *dst;
  const char *src;
  int size, nb;           /* element size; batch axes */
  int64_t bdim[FERRY_MAX_RANK], bsi[FERRY_MAX_RANK], bso[FERRY_MAX_RANK]; /* batch dims, src/dst strides */
  int64_t row;            /* rows mode: elements per contiguous row */
  int64_t A, B;           /* tile mode: dst[a * os_a + b] = src[b * is_b + a] */
  int64_t os_a, is_b, ntA;
} perm_plan;

/* Offsets of batch index u in src and dst. */
static void batch_offsets(const perm_plan *p, int64_t u, int64_t *si, int64_t *so) {
  int64_t s = 0, o = 0;
  for (int d = p->nb - 1; d >= 0; d--) {
    int64_t q = u / p->bdim[d], r = u - q * p->bdim[d];
    s += r * p->bsi[d];
    o += r * p->bso[d];
    u = q;
  }
  *si = s, *so = o;
}

#define TILE_COPY(T)                                                               \
  static void tile_##T(T *dst, const T *src, int64_t a0, int64_t a1, int64_t B, int64_t os_a, int64_t is_b) { \
    for (int64_t b0 = 0; b0 < B; b0 += TILE) {                                     \
      int64_t b1 = b0 + TILE < B ? b0 + TILE : B;                                  \
      for (int64_t a = a0; a < a1; a++) {                                          \
        T *d = dst + a * os_a;                                                     \
        const T *s = src + a;                                                      \
        for (int64_t b = b0; b < b1; b++) d[b] = s[b * is_b];                      \
      }                                                                            \
    }                                                                              \
  }
TILE_COPY(uint8_t)
TILE_COPY(uint16_t)

/* 4-byte elements: 4x4 blocks transposed in registers (portable vector
 * shuffles: SSE natively, SIMD128 in wasm), the edges element-wise. */
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static inline u32x4 ld4(const uint32_t *p) {
  u32x4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st4(uint32_t *p, u32x4 v) { memcpy(p, &v, sizeof v); }

static void tile_uint32_t(uint32_t *dst, const uint32_t *src, int64_t a0, int64_t a1, int64_t B, int64_t os_a,
                          int64_t is_b) {
  for (int64_t b0 = 0; b0 < B; b0 += TILE) {
    int64_t b1 = b0 + TILE < B ? b0 + TILE : B, b = b0;
    for (; b + 4 <= b1; b += 4) {
      const uint32_t *s = src + b * is_b;
      int64_t a = a0;
      for (; a + 4 <= a1; a += 4) {
        u32x4 r0 = ld4(s + a), r1 = ld4(s + is_b + a), r2 = ld4(s + 2 * is_b + a), r3 = ld4(s + 3 * is_b + a);
        u32x4 t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5), t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
        u32x4 t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5), t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
        uint32_t *d = dst + a * os_a + b;
        st4(d, __builtin_shufflevector(t0, t2, 0, 1, 4, 5));
        st4(d + os_a, __builtin_shufflevector(t0, t2, 2, 3, 6, 7));
        st4(d + 2 * os_a, __builtin_shufflevector(t1, t3, 0, 1, 4, 5));
        st4(d + 3 * os_a, __builtin_shufflevector(t1, t3, 2, 3, 6, 7));
      }
      for (; a < a1; a++)
        for (int64_t k = 0; k < 4; k++) dst[a * os_a + b + k] = s[k * is_b + a];
    }
    for (; b < b1; b++)
      for (int64_t a = a0; a < a1; a++) dst[a * os_a + b] = src[b * is_b + a];
  }
}

/* 8-byte elements: 2x2 blocks. */
static void tile_uint64_t(uint64_t *dst, const uint64_t *src, int64_t a0, int64_t a1, int64_t B, int64_t os_a,
                          int64_t is_b) {
  for (int64_t b0 = 0; b0 < B; b0 += TILE) {
    int64_t b1 = b0 + TILE < B ? b0 + TILE : B, b = b0;
    for (; b + 2 <= b1; b += 2) {
      const uint64_t *s = src + b * is_b;
      int64_t a = a0;
      for (; a + 2 <= a1; a += 2) {
        u64x2 r0, r1;
        memcpy(&r0, s + a, 16);
        memcpy(&r1, s + is_b + a, 16);
        u64x2 c0 = __builtin_shufflevector(r0, r1, 0, 2), c1 = __builtin_shufflevector(r0, r1, 1, 3);
        memcpy(dst + a * os_a + b, &c0, 16);
        memcpy(dst + (a + 1) * os_a + b, &c1, 16);
      }
      for (; a < a1; a++) dst[a * os_a + b] = s[a], dst[a * os_a + b + 1] = s[is_b + a];
    }
    for (; b < b1; b++)
      for (int64_t a = a0; a < a1; a++) dst[a * os_a + b] = src[b * is_b + a];
  }
}

static void tile_bytes(char *dst, const char *src, int size, int64_t a0, int64_t a1, int64_t B, int64_t os_a,
                       int64_t is_b) {
  for (int64_t b0 = 0; b0 < B; b0 += TILE) {
    int64_t b1 = b0 + TILE < B ? b0 + TILE : B;
    for (int64_t a = a0; a < a1; a++)
      for (int64_t b = b0; b < b1; b++)
        memcpy(dst + (a * os_a + b) * size, src + (b * is_b + a) * size, (size_t)size);
  }
}

static void perm_tiles(void *arg, int64_t begin, int64_t end) {
  const perm_plan *p = arg;
  for (int64_t u = begin; u < end; u++) {
    int64_t bi = u / p->ntA, a0 = (u - bi * p->ntA) * TILE, a1 = a0 + TILE < p->A ? a0 + TILE : p->A, si, so;
    batch_offsets(p, bi, &si, &so);
    char *d = p->dst + so * p->size;
    const char *s = p->src + si * p->size;
    switch (p->size) {
    case 1: tile_uint8_t((uint8_t *)d, (const uint8_t *)s, a0, a1, p->B, p->os_a, p->is_b); break;
    case 2: tile_uint16_t((uint16_t *)(void *)d, (const uint16_t *)(const void *)s, a0, a1, p->B, p->os_a, p->is_b); break;
    case 4: tile_uint32_t((uint32_t *)(void *)d, (const uint32_t *)(const void *)s, a0, a1, p->B, p->os_a, p->is_b); break;
    case 8: tile_uint64_t((uint64_t *)(void *)d, (const uint64_t *)(const void *)s, a0, a1, p->B, p->os_a, p->is_b); break;
    default: tile_bytes(d, s, p->size, a0, a1, p->B, p->os_a, p->is_b); break;
    }
  }
}

/* Last axis unmoved: each batch index is one contiguous row of p->row elements. */
static void perm_rows(void *arg, int64_t begin, int64_t end) {
  const perm_plan *p = arg;
  for (int64_t u = begin; u < end; u++) {
    int64_t si, so;
    batch_offsets(p, u, &si, &so);
    memcpy(p->dst + so * p->size, p->src + si * p->size, (size_t)(p->row * p->size));
  }
}

/* Drops size-1 axes and merges axes adjacent in both src and dst. */
static int simplify(int rank, const int64_t *dims, const int *perm, int64_t *sd, int *sp) {
  int keep[FERRY_MAX_RANK], map[FERRY_MAX_RANK], r = 0;
  for (int i = 0; i < rank; i++) keep[i] = dims[i] != 1;
  for (int i = 0; i < rank; i++) map[i] = keep[i] ? r++ : -1;
  int64_t d1[FERRY_MAX_RANK];
  int p1[FERRY_MAX_RANK], n = 0;
  for (int i = 0; i < rank; i++)
    if (keep[i]) d1[map[i]] = dims[i];
  for (int i = 0; i < rank; i++)
    if (keep[perm[i]]) p1[n++] = map[perm[i]];
  /* merge: dst axes i, i+1 with p1[i+1] == p1[i] + 1 */
  int group[FERRY_MAX_RANK], ng = 0;
  for (int i = 0; i < n; i++) {
    if (i == 0 || p1[i] != p1[i - 1] + 1) ng++;
    group[p1[i]] = ng - 1;
  }
  /* groups in src order give the new src axes */
  int order[FERRY_MAX_RANK], m = 0;
  for (int a = 0; a < r; a++)
    if (a == 0 || group[a] != group[a - 1]) order[m++] = group[a];
  int newidx[FERRY_MAX_RANK];
  for (int j = 0; j < m; j++) newidx[order[j]] = j;
  for (int j = 0; j < m; j++) sd[j] = 1;
  for (int a = 0; a < r; a++) sd[newidx[group[a]]] *= d1[a];
  for (int g = 0; g < ng; g++) sp[g] = newidx[g];
  return ng;
}

void ferry_mv_permute(ferry_kctx *k, void *dst, const void *src, int size, int rank, const int64_t *dims,
                      const int *perm) {
  int64_t d[FERRY_MAX_RANK], n = 1;
  int p[FERRY_MAX_RANK];
  for (int i = 0; i < rank; i++) n *= dims[i];
  if (n == 0) return;
  int r = simplify(rank, dims, perm, d, p);
  if (r <= 1) {
    memcpy(dst, src, (size_t)(n * size));
    return;
  }
  int64_t is[FERRY_MAX_RANK], od[FERRY_MAX_RANK], os[FERRY_MAX_RANK];
  ferry_strides(r, d, is);
  for (int i = 0; i < r; i++) od[i] = d[p[i]];
  ferry_strides(r, od, os);
  perm_plan pl;
  memset(&pl, 0, sizeof pl);
  pl.dst = dst, pl.src = src, pl.size = size;
  if (p[r - 1] == r - 1) { /* rows */
    for (int i = 0; i < r - 1; i++) pl.bdim[i] = od[i], pl.bsi[i] = is[p[i]], pl.bso[i] = os[i];
    pl.nb = r - 1;
    pl.row = d[r - 1];
    ferry_mv_parallel(k, n / pl.row, pl.row, perm_rows, &pl);
    return;
  }
  int q = p[r - 1], pa = 0; /* q: src axis that is dst's last; pa: dst position of src's last */
  for (int i = 0; i < r; i++)
    if (p[i] == r - 1) pa = i;
  for (int i = 0; i < r; i++) {
    if (i == pa || i == r - 1) continue;
    pl.bdim[pl.nb] = od[i], pl.bsi[pl.nb] = is[p[i]], pl.bso[pl.nb] = os[i], pl.nb++;
  }
  pl.A = d[r - 1], pl.B = d[q], pl.os_a = os[pa], pl.is_b = is[q];
  pl.ntA = (pl.A + TILE - 1) / TILE;
  ferry_mv_parallel(k, n / (pl.A * pl.B) * pl.ntA, TILE * pl.B, perm_tiles, &pl);
}
