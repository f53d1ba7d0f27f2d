/* A leak 200 frames down a recursion: leak_at_bottom 48 in 1, with 200
 * frames of recurse() above it. */
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_at_bottom(void) { void *p = malloc(48); USE(p); }

NOINLINE int recurse(int n)
{
    if (n == 0) {
        leak_at_bottom();
        return 0;
    }
    int r = recurse(n - 1);
    USE(&r);
    return r + 1;
}

int main(void)
{
    return recurse(200) == 200 ? 0 : 1;
}
