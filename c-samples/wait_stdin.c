/* Leaks, then waits until its standard input closes before it exits, so a
 * test can prepare the directory its dump will land in (the pid is only
 * known once it runs).  leak_before_wait 64 in 1 */
#include <stdio.h>
#include <stdlib.h>
#include "sample.h"

NOINLINE void leak_before_wait(void) { void *p = malloc(64); USE(p); }

int main(void)
{
    leak_before_wait();
    while (getchar() != EOF)
        ;
    return 0;
}
