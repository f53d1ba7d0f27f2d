/* Large known leaks among a lot of clean churn, for sampling:
 *   leak_big    20,000,000 bytes in 20,000 blocks (1000 bytes each)
 *   leak_grown  20,000,000 bytes in 20,000 blocks, each grown by realloc
 *               from 100 to 250, 500 and then 1000 bytes
 * clean_churn allocates and frees 200 MB in small blocks; clean_regrow
 * grows 100,000 blocks by realloc and frees them. */
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_big(void)
{
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(1000);
        USE(p);
    }
}

NOINLINE void leak_grown(void)
{
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(100);
        p = realloc(p, 250);
        p = realloc(p, 500);
        p = realloc(p, 1000);
        USE(p);
    }
}

NOINLINE void clean_churn(void)
{
    for (int i = 0; i < 1000000; i++) {
        void *p = malloc(16 + i % 384);
        USE(p);
        free(p);
    }
}

NOINLINE void clean_regrow(void)
{
    for (int i = 0; i < 100000; i++) {
        void *p = realloc(NULL, 16 + i % 64);
        for (size_t s = 128; s <= 2048; s *= 2)
            p = realloc(p, s);
        USE(p);
        free(p);
    }
}

int main(void)
{
    clean_churn();
    leak_big();
    clean_regrow();
    leak_grown();
    clean_churn();
    return 0;
}
