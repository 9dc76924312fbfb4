/*
 * testutil.h - helpers shared by the Check test programs: where test data
 * lives (set by make check's environment) and running the ferry command.
 */
#ifndef FERRY_TESTUTIL_H
#define FERRY_TESTUTIL_H

#include <stddef.h>

/* $NAME or abort the test run with a message: a missing tool or data set is
 * a failure, never a skip. */
const char *tu_env(const char *name);
/* Path under $FERRY_TEST_MODELS (static buffer, valid until the next call). */
const char *tu_model(const char *rel);
/* Reads a whole file; NULL if it cannot. */
char *tu_read(const char *path, size_t *len);
/* Writes a file, returns 0 on success. */
int tu_write(const char *path, const void *data, size_t len);
/* Runs `$FERRY args...` (a shell command line), captures stdout and stderr
 * (malloc'd, caller frees) and returns the exit status, -1 on a signal. */
int tu_run(const char *args, char **out, char **err);
/* A fresh temporary directory (static buffer: copy it before the next call). */
const char *tu_tmpdir(void);

#endif
