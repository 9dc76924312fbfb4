/*
 * arena.c - the offset allocator and the scratch bump allocator of
 * arena.h. The offset allocator keeps a sorted array of free ranges below
 * `top`: allocation takes the smallest range that fits (best fit) or
 * extends `top` (reusing a free range that ends at `top`), release inserts
 * and merges with its neighbours and lowers `top` when it can.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

size_t ferry_align_up(size_t n) {
  if (n > SIZE_MAX - (FERRY_ALIGN - 1)) return SIZE_MAX;
  return (n + FERRY_ALIGN - 1) & ~(size_t)(FERRY_ALIGN - 1);
}

void *ferry_aligned_alloc(size_t bytes) {
  void *p = NULL;
  size_t n = ferry_align_up(bytes ? bytes : 1);
  if (n == SIZE_MAX || posix_memalign(&p, FERRY_ALIGN, n)) return NULL;
  return p;
}

void ferry_aligned_free(void *p) { free(p); }

/* ---- offset allocator ---- */

void ferry_arena_plan_init(ferry_arena_plan *a) { memset(a, 0, sizeof *a); }

void ferry_arena_plan_done(ferry_arena_plan *a) {
  free(a->free);
  memset(a, 0, sizeof *a);
}

static void remove_range(ferry_arena_plan *a, int i) {
  memmove(&a->free[i], &a->free[i + 1], (size_t)(a->n_free - i - 1) * sizeof *a->free);
  a->n_free--;
}

static int insert_range(ferry_arena_plan *a, int i, size_t off, size_t len) {
  if (a->n_free == a->cap) {
    int cap = a->cap ? 2 * a->cap : 16;
    ferry_arange *f = realloc(a->free, (size_t)cap * sizeof *f);
    if (!f) return a->oom = 1, -1;
    a->free = f;
    a->cap = cap;
  }
  memmove(&a->free[i + 1], &a->free[i], (size_t)(a->n_free - i) * sizeof *a->free);
  a->free[i] = (ferry_arange){off, len};
  a->n_free++;
  return 0;
}

/* Index of the smallest free range of at least n bytes, -1 if none. */
static int best_fit(const ferry_arena_plan *a, size_t n) {
  int best = -1;
  for (int i = 0; i < a->n_free; i++)
    if (a->free[i].len >= n && (best < 0 || a->free[i].len < a->free[best].len)) best = i;
  return best;
}

static size_t grow_top(ferry_arena_plan *a, size_t n) {
  size_t off = a->top;
  if (a->n_free && a->free[a->n_free - 1].off + a->free[a->n_free - 1].len == a->top) {
    off = a->free[a->n_free - 1].off; /* the free range at the end grows */
    remove_range(a, a->n_free - 1);
  }
  if (off > SIZE_MAX - n) return SIZE_MAX;
  a->top = off + n;
  if (a->top > a->peak) a->peak = a->top;
  return off;
}

size_t ferry_arena_alloc(ferry_arena_plan *a, size_t bytes) {
  size_t n = ferry_align_up(bytes ? bytes : 1);
  if (n == SIZE_MAX || a->oom) return SIZE_MAX;
  int i = best_fit(a, n);
  if (i < 0) return grow_top(a, n);
  size_t off = a->free[i].off;
  if (a->free[i].len == n) remove_range(a, i);
  else a->free[i].off += n, a->free[i].len -= n;
  return off;
}

/* Lowers `top` while the highest free range ends there. */
static void trim_top(ferry_arena_plan *a) {
  while (a->n_free && a->free[a->n_free - 1].off + a->free[a->n_free - 1].len == a->top) {
    a->top = a->free[a->n_free - 1].off;
    remove_range(a, a->n_free - 1);
  }
}

void ferry_arena_release(ferry_arena_plan *a, size_t off, size_t bytes) {
  size_t n = ferry_align_up(bytes ? bytes : 1);
  int i = 0;
  while (i < a->n_free && a->free[i].off < off) i++;
  if (i > 0 && a->free[i - 1].off + a->free[i - 1].len == off) {
    a->free[i - 1].len += n; /* merge with the range below */
    if (i < a->n_free && off + n == a->free[i].off) {
      a->free[i - 1].len += a->free[i].len;
      remove_range(a, i);
    }
  } else if (i < a->n_free && off + n == a->free[i].off) {
    a->free[i].off = off; /* merge with the range above */
    a->free[i].len += n;
  } else if (insert_range(a, i, off, n)) {
    return;
  }
  trim_top(a);
}

/* ---- scratch ---- */

struct ferry_schunk {
  ferry_schunk *next;
  size_t size, used;
  char *data;
};

#define SCRATCH_MIN ((size_t)1 << 20)

void ferry_scratch_init(ferry_scratch *s) { memset(s, 0, sizeof *s); }

static void free_chunk(ferry_schunk *c) {
  ferry_aligned_free(c->data);
  free(c);
}

void ferry_scratch_done(ferry_scratch *s) {
  while (s->head) {
    ferry_schunk *c = s->head;
    s->head = c->next;
    free_chunk(c);
  }
  memset(s, 0, sizeof *s);
}

static ferry_schunk *new_chunk(size_t size) {
  ferry_schunk *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->size = size;
  if (!(c->data = ferry_aligned_alloc(size))) {
    free(c);
    return NULL;
  }
  return c;
}

void *ferry_scratch_get(ferry_scratch *s, size_t bytes) {
  size_t n = ferry_align_up(bytes ? bytes : 1);
  if (n == SIZE_MAX) return NULL;
  ferry_schunk *h = s->head;
  if (!h || h->size - h->used < n) {
    size_t size = n > SCRATCH_MIN ? n : SCRATCH_MIN;
    if (!h && s->high > size) size = ferry_align_up(s->high); /* one chunk for the whole high-water */
    if (h && h->size * 2 > size && h->size * 2 > h->size) size = h->size * 2;
    if (!(h = new_chunk(size))) return NULL;
    h->next = s->head;
    s->head = h;
  }
  void *p = h->data + h->used;
  h->used += n;
  s->used += n;
  if (s->used > s->high) s->high = s->used;
  return p;
}

size_t ferry_scratch_mark(const ferry_scratch *s) { return s->used; }

/* When empty and split over several chunks, the next use gets one chunk
 * as large as they were together. */
static void merge_when_empty(ferry_scratch *s) {
  if (s->used || !s->head || !s->head->next) return;
  size_t high = s->high;
  ferry_scratch_done(s);
  s->high = high;
}

void ferry_scratch_reset(ferry_scratch *s, size_t mark) {
  while (s->used > mark && s->head) {
    ferry_schunk *h = s->head;
    size_t excess = s->used - mark, drop = h->used < excess ? h->used : excess;
    h->used -= drop;
    s->used -= drop;
    if (h->used == 0 && h->next && s->used > mark) { /* emptied, older chunks still in use above mark */
      s->head = h->next;
      free_chunk(h);
    }
  }
  merge_when_empty(s);
}
