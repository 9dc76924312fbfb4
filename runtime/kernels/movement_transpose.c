/*
 * movement_transpose.c - kernels that rearrange whole tensors: Transpose
 * and the block rearrangements DepthToSpace / SpaceToDepth (a reshape, a
 * transpose and a reshape, through ferry_mv_permute), and the repeating
 * ops Tile and Expand.
 *
 * Expand is Tile in disguise: once the input is padded to the output's
 * rank, every broadcast axis has size 1 and is repeated out-dim times. Both
 * copy the innermost run that does not repeat as one block and replicate
 * blocks with doubling memcpy, so no per-element index math remains.
 */
#include <string.h>

#include "movement.h"
#include "util.h"

int ferry_kernel_Transpose(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  const int64_t *p;
  int n = ferry_attr_ints(k->sctx, "perm", &p), perm[FERRY_MAX_RANK], seen[FERRY_MAX_RANK] = {0}, size, rc;
  int64_t d[FERRY_MAX_RANK];
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (n && n != x->rank) return ferry_kernel_fail(k, "perm has %d entries for rank %d", n, x->rank);
  for (int i = 0; i < x->rank; i++) {
    perm[i] = n ? ferry_axis(p[i], x->rank) : x->rank - 1 - i;
    if (perm[i] < 0 || seen[perm[i]]++) return ferry_kernel_fail(k, "perm is not a permutation");
    d[i] = x->dims[perm[i]];
  }
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, d))) return rc;
  ferry_mv_permute(k, k->out[0].data, x->data, size, x->rank, x->dims, perm);
  return FERRY_OK;
}

/* DepthToSpace (to_space) and SpaceToDepth on NCHW with blocksize b. */
static int block_rearrange(ferry_kctx *k, int to_space) {
  const ferry_tview *x = &k->in[0];
  int64_t b = ferry_attr_int(k->sctx, "blocksize", 0), od[4], v[6];
  int size, rc, crd = 0;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (x->rank != 4) return ferry_kernel_fail(k, "input must have rank 4, got %d", x->rank);
  if (b < 1 || b > ((int64_t)1 << 20)) return ferry_kernel_fail(k, "blocksize must be >= 1");
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  if (to_space) {
    const char *mode = k->opset >= 11 ? ferry_attr_str(k->sctx, "mode", "DCR") : "DCR";
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD")) return ferry_kernel_fail(k, "unknown mode '%s'", mode);
    crd = !strcmp(mode, "CRD");
    if (C % (b * b)) return ferry_kernel_fail(k, "channels (%lld) not divisible by blocksize^2", (long long)C);
    int64_t c = C / (b * b);
    od[0] = N, od[1] = c, od[2] = H * b, od[3] = W * b;
    if (crd) v[0] = N, v[1] = c, v[2] = b, v[3] = b, v[4] = H, v[5] = W;
    else v[0] = N, v[1] = b, v[2] = b, v[3] = c, v[4] = H, v[5] = W;
  } else {
    if (H % b || W % b) return ferry_kernel_fail(k, "spatial dims not divisible by blocksize %lld", (long long)b);
    od[0] = N, od[1] = C * b * b, od[2] = H / b, od[3] = W / b;
    v[0] = N, v[1] = C, v[2] = H / b, v[3] = b, v[4] = W / b, v[5] = b;
  }
  static const int dcr[6] = {0, 3, 4, 1, 5, 2}, crdp[6] = {0, 1, 4, 2, 5, 3}, s2d[6] = {0, 3, 5, 1, 2, 4};
  if ((rc = ferry_mv_output(k, 0, x->dtype, 4, od))) return rc;
  ferry_mv_permute(k, k->out[0].data, x->data, size, 6, v, to_space ? (crd ? crdp : dcr) : s2d);
  return FERRY_OK;
}

int ferry_kernel_DepthToSpace(ferry_kctx *k) { return block_rearrange(k, 1); }
int ferry_kernel_SpaceToDepth(ferry_kctx *k) { return block_rearrange(k, 0); }

/* ---- repeating ---- */

typedef struct tile_plan {
  int rank, size, contig;  /* axes >= contig are not repeated */
  int64_t id[FERRY_MAX_RANK], rep[FERRY_MAX_RANK];
  int64_t is[FERRY_MAX_RANK], os[FERRY_MAX_RANK], blk[FERRY_MAX_RANK]; /* strides; blk[d] = out block of axis d */
} tile_plan;

/* Fills count copies of the first `bytes` at dst (already written). */
static void replicate(char *dst, size_t bytes, int64_t count) {
  for (int64_t have = 1; have < count;) {
    int64_t m = have < count - have ? have : count - have;
    memcpy(dst + (size_t)have * bytes, dst, (size_t)m * bytes);
    have += m;
  }
}

static void tile_axis(const tile_plan *p, int d, const char *src, char *dst) {
  if (d >= p->contig) {
    memcpy(dst, src, (size_t)(d < p->rank ? p->blk[d] : 1) * (size_t)p->size);
    return;
  }
  for (int64_t i = 0; i < p->id[d]; i++)
    tile_axis(p, d + 1, src + i * p->is[d] * p->size, dst + i * p->os[d] * p->size);
  replicate(dst, (size_t)(p->id[d] * p->os[d] * p->size), p->rep[d]);
}

/* out[0] = in[0] (padded to `rank` with leading 1s as id) repeated rep[d] times per axis. */
static int tile_run(ferry_kctx *k, int rank, const int64_t *id, const int64_t *rep) {
  tile_plan p;
  int64_t od[FERRY_MAX_RANK], n;
  int rc;
  memset(&p, 0, sizeof p);
  if ((rc = ferry_mv_esize(k, k->in[0].dtype, &p.size))) return rc;
  p.rank = rank;
  for (int d = 0; d < rank; d++) {
    if (rep[d] < 0) return ferry_kernel_fail(k, "repeats must be >= 0");
    if (id[d] && rep[d] > ((int64_t)1 << 53) / id[d]) return ferry_kernel_fail(k, "output is too large");
    od[d] = id[d] * rep[d], p.id[d] = id[d], p.rep[d] = rep[d];
  }
  if ((rc = ferry_mv_output(k, 0, k->in[0].dtype, rank, od))) return rc;
  if (!ferry_mv_numel(rank, od, &n) || n == 0) return FERRY_OK;
  ferry_strides(rank, id, p.is);
  ferry_strides(rank, od, p.os);
  for (int d = 0; d < rank; d++) p.blk[d] = p.os[d] * od[d];
  p.contig = rank;
  while (p.contig > 0 && rep[p.contig - 1] == 1) p.contig--;
  tile_axis(&p, 0, k->in[0].data, k->out[0].data);
  return FERRY_OK;
}

int ferry_kernel_Tile(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t rep[FERRY_MAX_RANK];
  if (!ferry_mv_has(k, 1) || k->in[1].numel != x->rank)
    return ferry_kernel_fail(k, "repeats must have %d values", x->rank);
  for (int d = 0; d < x->rank; d++) rep[d] = ferry_mv_int(&k->in[1], d);
  return tile_run(k, x->rank, x->dims, rep);
}

int ferry_kernel_Expand(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *s = &k->in[1];
  int64_t id[FERRY_MAX_RANK], rep[FERRY_MAX_RANK];
  if (!ferry_mv_has(k, 1) || s->numel > FERRY_MAX_RANK) return ferry_kernel_fail(k, "bad shape input");
  int n = (int)s->numel, r = n > x->rank ? n : x->rank;
  for (int d = 0; d < r; d++) {
    int64_t a = d - (r - x->rank) >= 0 ? x->dims[d - (r - x->rank)] : 1;
    int64_t b = d - (r - n) >= 0 ? ferry_mv_int(s, d - (r - n)) : 1;
    if (b < 0) return ferry_kernel_fail(k, "shape has a negative dim");
    if (a != b && a != 1 && b != 1)
      return ferry_kernel_fail(k, "cannot broadcast dim %lld to %lld", (long long)a, (long long)b);
    id[d] = a;
    rep[d] = a == 1 ? b : 1;
  }
  return tile_run(k, r, id, rep);
}
