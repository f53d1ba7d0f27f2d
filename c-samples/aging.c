/* Old and new leaks: old_leak() keeps 500 bytes at start, new_leak() 60
 * bytes 1.5 s later, just before a quick exit through _exit(5) (no exit
 * handlers: leaktrace must dump anyway). */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "sample.h"

NOINLINE static void old_leak(void)
{
    void *p = malloc(500);
    USE(p);
}

NOINLINE static void new_leak(void)
{
    void *p = malloc(60);
    USE(p);
}

int main(void)
{
    old_leak();
    struct timespec ts = {1, 500 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
    new_leak();
    _exit(5);
}
