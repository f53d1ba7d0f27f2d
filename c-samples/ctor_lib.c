/* A shared library whose constructor leaks. The loader runs it before
 * libleaktrace.so's own constructor, so the library must already be
 * tracking by then.  ctor_leak 77 in 1 */
#include <stdlib.h>
#include "sample.h"

NOINLINE void ctor_leak(void) { void *p = malloc(77); USE(p); }

__attribute__((constructor)) static void at_load(void) { ctor_leak(); }

int ctor_lib_value(void) { return 5; }
