// C++ leaks: new, new[], and the buffers of std::string and std::vector,
// which libstdc++ (built without frame pointers) allocates via operator new.
//   leak_new_int        4 in 1
//   leak_new_array     40 in 1   (new int[10])
//   leak_string        32 + 101 in 2 (a heap std::string and its buffer)
//   leak_vector        24 + 400 in 2 (a heap std::vector<int>(100) and its buffer)
//   leak_map_node      one node of a leaked std::map (plus the map itself)
#include <map>
#include <string>
#include <vector>
#include "sample.h"

NOINLINE void leak_new_int() { int *p = new int(7); USE(p); }
NOINLINE void leak_new_array() { int *p = new int[10](); USE(p); }
NOINLINE void leak_string()
{
    auto *s = new std::string(100, 'x');
    USE(s);
}
NOINLINE void leak_vector()
{
    auto *v = new std::vector<int>(100);
    USE(v);
}
NOINLINE void leak_map_node()
{
    auto *m = new std::map<int, int>();
    (*m)[1] = 2;
    USE(m);
}

NOINLINE void clean_containers()
{
    std::map<int, std::string> m;
    for (int i = 0; i < 100; i++)
        m[i] = std::string(50, 'a' + i % 26);
    std::vector<std::string> v(m.size());
    for (auto &kv : m)
        v.push_back(kv.second);
    int *p = new int[5];
    USE(p);
    delete[] p;
    auto *q = new std::string("a string long enough to need a heap buffer");
    USE(q);
    delete q;
}

int main()
{
    clean_containers();
    leak_new_int();
    leak_new_array();
    leak_string();
    leak_vector();
    leak_map_node();
    return 0;
}
