/* Known peaks, for the live and peak figures (stats.rs): one thread
 *   phase 1: 64 blocks of 100,000 bytes live at once (6,400,000 bytes), freed
 *   phase 2: 5,000 blocks of 16 bytes live at once (80,000 bytes), freed
 *   then leaks one block of 1,000 bytes in leak_one.
 * The peak is 6,400,000 bytes (phase 1) and 5,000 blocks (phase 2), plus
 * what the C library keeps live at those moments. */
#include <stdlib.h>
#include "sample.h"

NOINLINE void phase(int n, size_t size)
{
    void *blocks[5000];
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        USE(blocks[i]);
    }
    for (int i = 0; i < n; i++)
        free(blocks[i]);
}

NOINLINE void leak_one(void)
{
    void *p = malloc(1000);
    USE(p);
}

int main(void)
{
    phase(64, 100000);
    phase(5000, 16);
    leak_one();
    return 0;
}
