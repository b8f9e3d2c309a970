/*
 * A slow disk for the bench (issue 19's group-commit A/B): fsync and fdatasync wait
 * SLOW_FSYNC_US microseconds (default 5000) before doing their work, as on a network block device.
 * Measurement only: never loaded by the service.
 *
 *   cc -shared -fPIC -O2 -o /tmp/slow-fsync.so bench/lib/slow-fsync.c -ldl
 *   LD_PRELOAD=/tmp/slow-fsync.so SLOW_FSYNC_US=5000 npm run bench -- --no-peer --no-postgres --only me-jwt,login,register,isolation
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void wait_like_a_slow_disk(void) {
  const char *text = getenv("SLOW_FSYNC_US");
  usleep(text ? atoi(text) : 5000);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fsync");
  wait_like_a_slow_disk();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
  wait_like_a_slow_disk();
  return real(fd);
}
