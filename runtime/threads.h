/*
 * threads.h - the executor's thread pool, the runtime's only use of
 * threads, behind four functions so the rest of the runtime stays plain C.
 *
 * Natively it is pthreads: n-1 workers wait for a job and the calling
 * thread works too. In wasm32 (no threads) and with n <= 1 there is no
 * pool: ferry_pool_new returns NULL and ferry_pool_run calls fn inline.
 * A call made from inside a job (a kernel's nested parallel loop) also
 * runs inline. One pool serves one session: runs do not overlap.
 */
#ifndef FERRY_THREADS_H
#define FERRY_THREADS_H

#include <stdint.h>

typedef struct ferry_pool ferry_pool;

/* A pool of n threads in all (the caller included); NULL when n <= 1, in
 * wasm32, or when no thread could be started (work then runs inline). */
ferry_pool *ferry_pool_new(int n);
/* Threads that share a job: 1 for NULL. */
int ferry_pool_threads(const ferry_pool *p);
/* Runs fn(arg, begin, end) over chunks covering [0, n) and returns when
 * all are done. */
void ferry_pool_run(ferry_pool *p, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end),
                    void *arg);
void ferry_pool_free(ferry_pool *p);

#endif
