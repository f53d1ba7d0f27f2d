/* Changes directory before it leaks and exits: a relative LEAKTRACE_OUT
 * must still land where the program started.  leak_after_chdir 21 in 1 */
#include <stdlib.h>
#include <unistd.h>
#include "sample.h"

NOINLINE void leak_after_chdir(void) { void *p = malloc(21); USE(p); }

int main(void)
{
    if (chdir("/") != 0)
        return 1;
    leak_after_chdir();
    return 0;
}
