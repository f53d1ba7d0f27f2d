/* Closes every file descriptor (stdin, stdout and stderr too) as some
 * daemons do, then leaks 64 bytes in leak_after_closing() and exits 6:
 * leaktrace must still write its dump, and the status stay 6. */
#include <stdlib.h>
#include <unistd.h>
#include "sample.h"

NOINLINE static void leak_after_closing(void)
{
    void *p = malloc(64);
    USE(p);
}

int main(void)
{
    for (int fd = 0; fd < 4096; fd++)
        close(fd);
    leak_after_closing();
    return 6;
}
