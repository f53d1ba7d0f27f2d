/* Three leaks from one place 400 frames down: deeper than the 256 frames a
 * thread remembers of its previous capture, so the second and third
 * captures reuse part of the first and walk the rest.
 *   leak_three   144 bytes in 3 blocks, one stack of 401 `descend` frames */
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_three(void)
{
    for (int i = 0; i < 3; i++) {
        void *p = malloc(48);
        USE(p);
    }
}

NOINLINE int descend(int n)
{
    if (n == 0) {
        leak_three();
        return 0;
    }
    int r = descend(n - 1);
    USE(&r);
    return r + 1;
}

int main(void)
{
    return descend(400) == 400 ? 0 : 1;
}
