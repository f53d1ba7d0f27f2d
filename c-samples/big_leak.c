/* A large known leak among a lot of clean churn, for sampling:
 *   leak_big   20,000,000 bytes in 20,000 blocks (1000 bytes each)
 * clean_churn allocates and frees 200 MB in small blocks. */
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_big(void)
{
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(1000);
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

int main(void)
{
    clean_churn();
    leak_big();
    clean_churn();
    return 0;
}
