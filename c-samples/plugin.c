/* A plugin, loaded with dlopen and unloaded before the program ends.
 *   plugin_leak   333 in 1 */
#include <stdlib.h>
#include "sample.h"

NOINLINE void plugin_leak(void) { void *p = malloc(333); USE(p); }

void plugin_entry(void)
{
    plugin_leak();
    void *tmp = malloc(10);
    USE(tmp);
    free(tmp);
}
