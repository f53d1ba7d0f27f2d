/* The README's first example: a tiny program with one leak per kind of
 * mistake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sample.h"

struct record {
    char *name;
    int value;
};

NOINLINE struct record *make_record(const char *name, int value)
{
    struct record *r = malloc(sizeof *r);
    r->name = strdup(name);
    r->value = value;
    return r;
}

NOINLINE void forget_records(int n)
{
    for (int i = 0; i < n; i++) {
        struct record *r = make_record("a record that is never freed", i);
        USE(r);
    }
}

NOINLINE void tidy(void)
{
    struct record *r = make_record("this one is freed", 1);
    free(r->name);
    free(r);
}

int main(void)
{
    tidy();
    forget_records(3);
    puts("demo: done");
    return 0;
}
