/*
 * profile.h - the per-op and per-node timing report of `ferry run
 * --profile`, from what ferry_session_profile (runtime/ferry.h) measured.
 */
#ifndef FERRY_PROFILE_H
#define FERRY_PROFILE_H

#include <stdio.h>

#include "ferry.h"

/* Prints to f the time per op type (nodes, calls and milliseconds per run,
 * share of all kernel time), slowest first, then the `top` slowest nodes.
 * t holds n entries from ferry_session_profile after `runs` runs. Returns
 * 0, or FERRY_E_SYSTEM when out of memory (nothing printed). */
int ferry_profile_print(FILE *f, const ferry_node_time *t, int n, int runs, int top);

#endif
