// Ten lost objects, each owning a std::vector of 4,000 bytes: the objects
// are definitely lost, the vectors' buffers (allocated through
// std::allocator and operator new) indirectly lost; one more object kept by
// a global is still reachable with its buffer. The allocating functions are
// extern "C" so that every tool names them alike.
//   make_owner            10 x 24 = 240 in 10 definite
//   fill_owner      10 x 4000 = 40,000 in 10 indirect
//   make_kept_owner                  24 in 1  reachable
//   fill_kept_owner               4,000 in 1  reachable
#include <vector>
#include "sample.h"

struct Owner {
    std::vector<char> bytes;
};

extern "C" NOINLINE void fill_owner(Owner *o) { o->bytes.resize(4000, 'x'); }
extern "C" NOINLINE Owner *make_owner()
{
    Owner *o = new Owner;
    USE(o);
    return o;
}

extern "C" NOINLINE void fill_kept_owner(Owner *o) { o->bytes.resize(4000, 'k'); }
extern "C" NOINLINE Owner *make_kept_owner()
{
    Owner *o = new Owner;
    USE(o);
    return o;
}

Owner *kept;

int main()
{
    for (int i = 0; i < 10; i++) {
        Owner *o = make_owner();
        fill_owner(o);
        USE(o);
    }
    kept = make_kept_owner();
    fill_kept_owner(kept);
    return 0;
}
