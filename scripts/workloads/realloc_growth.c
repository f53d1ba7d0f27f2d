/* Buffers grown by realloc from 16 bytes to 4 KiB, doubling, then freed.
 * (Larger buffers make every round shrink and regrow glibc's heap with brk,
 * and the benchmark would measure the kernel.)
 *   realloc_growth ROUNDS    prints the number of operations: allocator
 *                            calls / 2, so that an allocation and its free
 *                            count as one, as in churn */
#include <stdio.h>
#include <stdlib.h>

#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    long calls = 0;
    void *keep[16];
    for (long r = 0; r < rounds; r++) {
        for (int b = 0; b < 16; b++) {
            void *p = malloc(16);
            calls++;
            for (size_t s = 32; s <= 4096; s *= 2) {
                p = realloc(p, s);
                USE(p);
                calls++;
            }
            keep[b] = p;
        }
        for (int b = 0; b < 16; b++) {
            free(keep[b]);
            calls++;
        }
    }
    printf("%ld\n", calls / 2);
    return 0;
}
