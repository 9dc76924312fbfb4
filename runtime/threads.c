/*
 * threads.c - the pool of threads.h. A job is split into up to 4 chunks
 * per thread; threads take chunks with an atomic counter (uneven chunks
 * balance out), the last worker to finish wakes the caller. `generation`
 * tells sleeping workers a new job is there. Without pthreads (wasm32)
 * everything runs inline.
 */
#include "threads.h"

#include <stdlib.h>

#if defined(__wasm__) || defined(FERRY_NO_THREADS)

ferry_pool *ferry_pool_new(int n) {
  (void)n;
  return NULL;
}

int ferry_pool_threads(const ferry_pool *p) {
  (void)p;
  return 1;
}

void ferry_pool_run(ferry_pool *p, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)p;
  if (n > 0) fn(arg, 0, n);
}

void ferry_pool_free(ferry_pool *p) { (void)p; }

#else

#include <pthread.h>

#define MAX_THREADS 256
#define CHUNKS_PER_THREAD 4

struct ferry_pool {
  int n;                    /* threads in all, the caller included */
  pthread_t *tid;
  int started;              /* workers running */
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  unsigned generation;
  int quit, active;
  /* the job */
  void (*fn)(void *, int64_t, int64_t);
  void *arg;
  int64_t len;
  int64_t n_chunks, next;   /* next: taken with __atomic_fetch_add */
};

static __thread int in_job; /* this thread is running chunks */

static void chunk_range(const ferry_pool *p, int64_t c, int64_t *b, int64_t *e) {
  int64_t q = p->len / p->n_chunks, r = p->len % p->n_chunks;
  *b = c * q + (c < r ? c : r);
  *e = *b + q + (c < r);
}

static void run_chunks(ferry_pool *p) {
  int64_t c, b, e;
  in_job = 1;
  while ((c = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n_chunks) {
    chunk_range(p, c, &b, &e);
    if (e > b) p->fn(p->arg, b, e);
  }
  in_job = 0;
}

static void *worker(void *u) {
  ferry_pool *p = u;
  unsigned seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->generation == seen && !p->quit) pthread_cond_wait(&p->work, &p->mu);
    if (p->quit) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_chunks(p);
    pthread_mutex_lock(&p->mu);
    if (--p->active == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

ferry_pool *ferry_pool_new(int n) {
  if (n <= 1) return NULL;
  if (n > MAX_THREADS) n = MAX_THREADS;
  ferry_pool *p = calloc(1, sizeof *p);
  if (!p || !(p->tid = calloc((size_t)n, sizeof *p->tid))) return free(p), NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  for (int i = 0; i < n - 1; i++, p->started++)
    if (pthread_create(&p->tid[i], NULL, worker, p)) break;
  p->n = p->started + 1;
  if (p->started == 0) {
    ferry_pool_free(p);
    return NULL;
  }
  return p;
}

int ferry_pool_threads(const ferry_pool *p) { return p ? p->n : 1; }

void ferry_pool_run(ferry_pool *p, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  if (n <= 0) return;
  if (!p || n == 1 || in_job) {
    fn(arg, 0, n);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->len = n;
  p->n_chunks = n < (int64_t)p->n * CHUNKS_PER_THREAD ? n : (int64_t)p->n * CHUNKS_PER_THREAD;
  p->next = 0;
  p->active = p->started;
  p->generation++;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  run_chunks(p);
  pthread_mutex_lock(&p->mu);
  while (p->active > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void ferry_pool_free(ferry_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->started; i++) pthread_join(p->tid[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  free(p->tid);
  free(p);
}

#endif
