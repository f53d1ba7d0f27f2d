/* Two callers reach the same leaking path at the same stack depth, turn
 * about: the inner frames sit at the same addresses with the same return
 * addresses, only the outer ones differ. A stack cache that trusted the
 * inner frames alone would charge all blocks to one caller.
 *   via caller_a   2000 bytes in 50 blocks (40 each)
 *   via caller_b   2000 bytes in 50 blocks */
#include <stdlib.h>
#include "sample.h"

NOINLINE void *leaf(void) { void *p = malloc(40); USE(p); return p; }
NOINLINE void *middle(void) { void *p = leaf(); USE(p); return p; }
NOINLINE void caller_a(void) { void *p = middle(); USE(p); }
NOINLINE void caller_b(void) { void *p = middle(); USE(p); }

int main(void)
{
    for (int i = 0; i < 100; i++) {
        if (i % 2)
            caller_a();
        else
            caller_b();
    }
    return 0;
}
