/* Leaks made by libc on the program's behalf, through code built without
 * frame pointers (Debian's libc). Each must be charged to the function that
 * called libc.
 *   leak_strdup    12 in 1  ("hello world" + NUL)
 *   leak_getline  120 in 1  (getline's first buffer)
 *   leak_asprintf   one block of the formatted string
 *   leak_fopen      the FILE of an unclosed fopen */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sample.h"

NOINLINE void leak_strdup(void) { char *s = strdup("hello world"); USE(s); }

NOINLINE void leak_getline(void)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    USE(line);
    USE(n);
    fclose(f);
}

NOINLINE void leak_asprintf(void)
{
    char *s = NULL;
    if (asprintf(&s, "value=%d", 42) > 0)
        USE(s);
}

NOINLINE void leak_fopen(void)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    USE(f);
}

NOINLINE void clean_libc(void)
{
    char *s = strdup("transient");
    USE(s);
    free(s);
    char *t = NULL;
    if (asprintf(&t, "%s-%d", "x", 1) > 0)
        free(t);
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        if (getline(&line, &cap, f) > 0)
            USE(line);
        free(line);
        fclose(f);
    }
}

int main(void)
{
    clean_libc();
    leak_strdup();
    leak_getline();
    leak_asprintf();
    leak_fopen();
    return 0;
}
