/* Allocation-bound churn: each operation frees one block of a live set and
 * allocates a new one of 16-512 bytes, from one of 50 call sites, each
 * reached at its own call depth between 10 and 30. (heaptrack 1.4 exhausts
 * memory, 18 GB, and aborts when one site is reached at several depths, so
 * each site keeps one depth: the comparison must run under both tools.)
 * With "random", each call draws its own depth, 1-30 (1,500 stacks,
 * and a site's stack changes from one call to the next).
 *   churn THREADS OPS_PER_THREAD LIVE_PER_THREAD [random]
 * Prints the number of malloc+free pairs done. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline, noclone))
#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")

typedef void *(*site_fn)(size_t);

/* 50 distinct allocation sites. */
#define SITE(n) NOINLINE static void *site_##n(size_t s) { void *p = malloc(s); USE(p); return p; }
#define TEN(a) SITE(a##0) SITE(a##1) SITE(a##2) SITE(a##3) SITE(a##4) SITE(a##5) SITE(a##6) SITE(a##7) SITE(a##8) SITE(a##9)
TEN(1) TEN(2) TEN(3) TEN(4) TEN(5)
#define REF(n) site_##n,
#define TENREF(a) REF(a##0) REF(a##1) REF(a##2) REF(a##3) REF(a##4) REF(a##5) REF(a##6) REF(a##7) REF(a##8) REF(a##9)
static site_fn sites[50] = {TENREF(1) TENREF(2) TENREF(3) TENREF(4) TENREF(5)};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 30 distinct levels of calls; level_N descends `depth` more levels, then
 * allocates from `site`. */
#define LEVEL(n, next)                                                         \
    NOINLINE static void *level_##n(int depth, int site, size_t size)         \
    {                                                                          \
        if (depth == 0)                                                        \
            return sites[site](size);                                          \
        void *p = next(depth - 1, site, size);                                 \
        USE(&depth);                                                           \
        return p;                                                              \
    }
NOINLINE static void *level_bottom(int depth, int site, size_t size)
{
    (void)depth;
    return sites[site](size);
}
LEVEL(30, level_bottom) LEVEL(29, level_30) LEVEL(28, level_29) LEVEL(27, level_28)
LEVEL(26, level_27) LEVEL(25, level_26) LEVEL(24, level_25) LEVEL(23, level_24)
LEVEL(22, level_23) LEVEL(21, level_22) LEVEL(20, level_21) LEVEL(19, level_20)
LEVEL(18, level_19) LEVEL(17, level_18) LEVEL(16, level_17) LEVEL(15, level_16)
LEVEL(14, level_15) LEVEL(13, level_14) LEVEL(12, level_13) LEVEL(11, level_12)
LEVEL(10, level_11) LEVEL(9, level_10) LEVEL(8, level_9) LEVEL(7, level_8)
LEVEL(6, level_7) LEVEL(5, level_6) LEVEL(4, level_5) LEVEL(3, level_4)
LEVEL(2, level_3) LEVEL(1, level_2)

/* Allocates from `site` at a call depth of `depth` (1-30) below here. */
static void *descend(int depth, int site, size_t size)
{
    return level_1(depth - 1, site, size);
}

struct job {
    long ops;
    long live;
    uint64_t seed;
    int random_depth;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    void **slots = calloc(j->live, sizeof(void *));
    uint64_t s = j->seed;
    for (long i = 0; i < j->ops; i++) {
        uint64_t r = next_rand(&s);
        long slot = (long)(r % (uint64_t)j->live);
        free(slots[slot]);
        int site = (int)((r >> 20) % 50);
        int depth = j->random_depth ? 1 + (int)((r >> 52) % 30) : 10 + site % 21;
        size_t size = 16 + (size_t)((r >> 40) % 497);
        slots[slot] = descend(depth, site, size);
    }
    for (long i = 0; i < j->live; i++)
        free(slots[i]);
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    long ops = argc > 2 ? atol(argv[2]) : 2000000;
    long live = argc > 3 ? atol(argv[3]) : 10000;
    int random_depth = argc > 4 && argv[4][0] == 'r';
    pthread_t t[64];
    struct job jobs[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){ops, live, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), random_depth};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("%ld\n", ops * threads);
    return 0;
}
