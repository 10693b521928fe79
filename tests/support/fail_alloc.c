// fail_alloc.c -- a process at its memory limit, for tests: preloaded
// (LD_PRELOAD) into a process started with EDGEKEY_TEST_FAIL_ALLOC=PATH, it
// makes every allocation of 1 MiB or more fail (NULL, errno ENOMEM, so
// operator new throws std::bad_alloc) while the file PATH exists. Smaller
// ones go through, as they mostly do when a container nears its limit: the
// large ones (a copy of every record, a table's index, a read buffer) are
// the ones that find no room. The test creates and removes PATH to switch
// it on and off while the process runs.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

enum { kLarge = 1 << 20 };

static int refused(size_t n) {
  if (n < kLarge) return 0;
  const char *path = getenv("EDGEKEY_TEST_FAIL_ALLOC");
  struct stat st;
  if (path == NULL || stat(path, &st) != 0) return 0;
  errno = ENOMEM;
  return 1;
}

void *malloc(size_t n) { return refused(n) ? NULL : __libc_malloc(n); }

void *calloc(size_t n, size_t size) {
  if (size != 0 && n > (size_t)-1 / size) return __libc_calloc(n, size);  // its own overflow error
  return refused(n * size) ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) { return refused(n) ? NULL : __libc_realloc(p, n); }

void *memalign(size_t align, size_t n) { return refused(n) ? NULL : __libc_memalign(align, n); }

void *aligned_alloc(size_t align, size_t n) { return refused(n) ? NULL : __libc_memalign(align, n); }

int posix_memalign(void **out, size_t align, size_t n) {
  if (refused(n)) return ENOMEM;
  void *p = __libc_memalign(align, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}
