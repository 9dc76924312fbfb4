/*
 * wasm_shim.c - keeps ferry.wasm free of imports (wasm32-wasi reactor).
 *
 * The runtime uses no stdio beyond snprintf/vsnprintf, but wasi-libc's
 * vfprintf references stderr (for its "long double support is disabled"
 * message), and stderr links the WASI calls fd_write, fd_seek and fd_close,
 * which would become imports from wasi_snapshot_preview1. Defining the
 * symbols wasi-libc imports them through resolves them inside the module:
 * each fails with EBADF, so stdio output is silently dropped, never reached
 * by the runtime. A test (tests/check_wasm.c) checks the module has no
 * imports, so a libc function that needs another WASI call shows up there.
 */
#include <stdint.h>

#define WASI_EBADF 8

int32_t __imported_wasi_snapshot_preview1_fd_write(int32_t fd, int32_t iovs, int32_t n_iovs,
                                                   int32_t nwritten);
int32_t __imported_wasi_snapshot_preview1_fd_seek(int32_t fd, int64_t offset, int32_t whence,
                                                  int32_t newoffset);
int32_t __imported_wasi_snapshot_preview1_fd_close(int32_t fd);

int32_t __imported_wasi_snapshot_preview1_fd_write(int32_t fd, int32_t iovs, int32_t n_iovs,
                                                   int32_t nwritten) {
  (void)fd, (void)iovs, (void)n_iovs, (void)nwritten;
  return WASI_EBADF;
}

int32_t __imported_wasi_snapshot_preview1_fd_seek(int32_t fd, int64_t offset, int32_t whence,
                                                  int32_t newoffset) {
  (void)fd, (void)offset, (void)whence, (void)newoffset;
  return WASI_EBADF;
}

int32_t __imported_wasi_snapshot_preview1_fd_close(int32_t fd) {
  (void)fd;
  return WASI_EBADF;
}
