/*
 * arena.h - the runtime's two memory helpers (libc only, wasm32 too).
 *
 * ferry_arena_plan is an offset allocator: it hands out 64-byte aligned
 * ranges of a virtual buffer that starts at 0, best-fit over the ranges
 * freed so far (neighbours coalesce), growing the buffer's end only when no
 * freed range fits. The planner (plan.c) replays a graph's allocations and
 * frees through it once per input-shape signature; `peak` is then the size
 * of the one real buffer the plan needs, and each value keeps its offset.
 *
 * ferry_scratch is a bump allocator for kernel workspace: chunks that never
 * move (so a kernel's scratch survives the nested steps of a subgraph it
 * runs), reset to a mark after each step, merged into one chunk when the
 * region is empty again.
 */
#ifndef FERRY_ARENA_H
#define FERRY_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_ALIGN 64

/* Rounds n up to a multiple of 64; SIZE_MAX when that overflows. */
size_t ferry_align_up(size_t n);

/* A 64-byte aligned block (free with ferry_aligned_free); NULL on failure. */
void *ferry_aligned_alloc(size_t bytes);
void ferry_aligned_free(void *p);

/* ---- offset allocator ---- */

typedef struct ferry_arange {
  size_t off, len;
} ferry_arange;

typedef struct ferry_arena_plan {
  ferry_arange *free;   /* free ranges below `top`, sorted by offset */
  int n_free, cap;
  size_t top;           /* end of the highest range in use */
  size_t peak;          /* highest `top` so far: the buffer size needed */
  int oom;              /* a bookkeeping allocation failed */
} ferry_arena_plan;

void ferry_arena_plan_init(ferry_arena_plan *a);
void ferry_arena_plan_done(ferry_arena_plan *a);
/* Offset of a new range of `bytes` (rounded up to 64); SIZE_MAX when out
 * of memory (a->oom) or the size overflows. */
size_t ferry_arena_alloc(ferry_arena_plan *a, size_t bytes);
/* Gives back the range at `off` of `bytes` (as passed to alloc). */
void ferry_arena_release(ferry_arena_plan *a, size_t off, size_t bytes);

/* ---- scratch ---- */

typedef struct ferry_schunk ferry_schunk;

typedef struct ferry_scratch {
  ferry_schunk *head;   /* newest chunk first */
  size_t used;          /* bytes handed out across all chunks */
  size_t high;          /* most bytes in use at once, since creation */
} ferry_scratch;

void ferry_scratch_init(ferry_scratch *s);
void ferry_scratch_done(ferry_scratch *s);
/* 64-byte aligned workspace; NULL when out of memory. */
void *ferry_scratch_get(ferry_scratch *s, size_t bytes);
/* A mark to return to, and returning to it (frees what came after). */
size_t ferry_scratch_mark(const ferry_scratch *s);
void ferry_scratch_reset(ferry_scratch *s, size_t mark);

#endif
