/* A dlopen()ed library with a thread-local variable: its TLS is dynamic
 * (allocated by the loader at first use), and tls_plugin_hold() keeps a
 * 107-byte block there (reach.c). */
#include <stdlib.h>

__thread void *tls_plugin_held;

void *tls_plugin_hold(void)
{
    tls_plugin_held = malloc(107);
    __asm__ volatile("" : : "r"(&tls_plugin_held) : "memory");
    return NULL; /* the only pointer stays in the dynamic TLS block */
}
