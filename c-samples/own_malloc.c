/* A program with its own malloc, free, calloc and realloc (a bump allocator
 * over a static array, as some programs and rustc's jemalloc define them):
 * they come before the preloaded library, so its allocations are never
 * seen. leaktrace must say so at start and in the report (field.rs).
 * Prints "allocated" after leaking three blocks. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static _Alignas(16) unsigned char arena[1 << 20];
static size_t used;

void *malloc(size_t n)
{
    size_t at = (used + 15) & ~(size_t)15;
    if (n > sizeof arena - at - 16)
        return NULL;
    used = at + 16 + n;
    memcpy(arena + at, &n, sizeof n);
    return arena + at + 16;
}

void free(void *p)
{
    (void)p;
}

void *calloc(size_t k, size_t n)
{
    if (n && k > SIZE_MAX / n)
        return NULL;
    void *p = malloc(k * n);
    if (p)
        memset(p, 0, k * n);
    return p;
}

void *realloc(void *p, size_t n)
{
    void *q = malloc(n);
    if (p && q) {
        size_t old;
        memcpy(&old, (unsigned char *)p - 16, sizeof old);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

int main(void)
{
    volatile char *a = malloc(100);
    volatile char *b = calloc(10, 10);
    volatile char *c = realloc(NULL, 300);
    a[0] = b[0] = c[0] = 1;
    printf("allocated\n");
    return 0;
}
