/* A non-PIE program that takes the address of strcmp, as gcc's driver does:
 * its .dynsym then holds an undefined `strcmp` whose value is the PLT slot.
 * Stripped, the program's own functions have no symbol at all, and none of
 * them may be named after strcmp. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

int (*volatile compare)(const char *, const char *);

__attribute__((noinline)) char *make_name(const char *base, int n)
{
    char *s = malloc(48);
    snprintf(s, 48, "%s-%d", base, n);
    return s;
}

__attribute__((noinline)) void leak_names(void)
{
    for (int i = 0; i < 5; i++) {
        char *s = make_name("site", i);
        if (compare(s, "never") == 0)
            free(s);
    }
}

int main(void)
{
    compare = strcmp; /* the address, taken in code */
    leak_names();
    return 0;
}
