/* Ten lost objects, each the only owner of a std::vector<char> of 4,000
 * bytes: valgrind reports "40,240 (240 direct, 40,000 indirect) bytes in
 * 10 blocks are definitely lost" for them, and so should leaktrace — the
 * root cause (the objects, 24 bytes each: the vector's three pointers)
 * first, carrying the buffers it loses, and the buffers' site naming it.
 * (tests/tests/owners.rs) */
#include <vector>
#include "sample.h"

struct Holder {
    std::vector<char> data;
};

NOINLINE static Holder *make_holder(void)
{
    Holder *h = new Holder;
    h->data.resize(4000);
    USE(h);
    return h;
}

NOINLINE static void lose_holders(void)
{
    for (int i = 0; i < 10; i++) {
        Holder *h = make_holder();
        USE(h);
    }
}

int main(void)
{
    static_assert(sizeof(Holder) == 24, "three pointers");
    lose_holders();
    return 0;
}
