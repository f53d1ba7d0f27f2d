/* A slowly growing leak whose freed blocks held pointers to the kept ones:
 * every iteration a request of the kept block's size class points to the
 * previous kept block and is freed, and the allocator gives the next kept
 * block the request's memory, old pointer and all. valgrind calls every kept
 * block definitely lost (it takes no word never written since the malloc
 * for a pointer); a scan of the bytes alone sees a chain, and calls all but
 * one indirectly lost (docs/design.md, "Compared with valgrind"). Lost
 * either way: an old address in a lost block never makes a block
 * reachable.
 *   leak_kept_request     8,800 in 100   definite (valgrind)
 *   clean_request, clean_buffer          all freed */
#include <stdlib.h>
#include "sample.h"

struct request {
    void *buffer;
    long id;
    void *previous;
    long pad[7];
};

NOINLINE void *leak_kept_request(void)
{
    void *p = malloc(88);
    USE(p);
    return p;
}

NOINLINE void clean_request(void *previous, int i)
{
    struct request *r = malloc(sizeof *r);
    r->buffer = malloc(200 + i);
    r->id = i;
    r->previous = previous;
    USE(r);
    free(r->buffer);
    free(r);
}

int main(void)
{
    void *previous = NULL;
    for (int i = 0; i < 100; i++) {
        clean_request(previous, i);
        previous = leak_kept_request();
    }
    return 0;
}
