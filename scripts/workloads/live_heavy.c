/* Builds up N live blocks of 16-64 bytes from 8 call sites, then frees them
 * all ("free") or exits with them still allocated ("leak": an exit dump of
 * N blocks).
 *   live_heavy N free|leak    prints N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")

#define SITE(n) NOINLINE static void *site_##n(size_t s) { void *p = malloc(s); USE(p); return p; }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)
static void *(*sites[8])(size_t) = {site_0, site_1, site_2, site_3, site_4, site_5, site_6, site_7};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    int leak = argc > 2 && strcmp(argv[2], "leak") == 0;
    void **all = malloc(sizeof(void *) * (size_t)n);
    for (long i = 0; i < n; i++)
        all[i] = sites[i % 8](16 + (size_t)(i % 49));
    if (!leak) {
        for (long i = 0; i < n; i++)
            free(all[i]);
        free(all);
    }
    printf("%ld\n", n);
    return 0;
}
