/* Loads the plugin given as argv[1], calls it, and dlclose()s it, so that
 * the plugin's module is gone before the dump is written. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    void (*entry)(void) = (void (*)(void))dlsym(h, "plugin_entry");
    if (!entry)
        return 4;
    entry();
    return dlclose(h) == 0 ? 0 : 5;
}
