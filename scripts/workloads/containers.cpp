// A C++ workload: std::map, std::unordered_map, std::string and
// std::vector built and torn down repeatedly.
//   containers ROUNDS    prints an approximate count of malloc+free pairs
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 200;
    long pairs = 0;
    unsigned long checksum = 0;
    for (long r = 0; r < rounds; r++) {
        std::map<int, std::string> ordered;
        std::unordered_map<std::string, int> hashed;
        std::vector<std::string> list;
        for (int i = 0; i < 2000; i++) {
            std::string key = "key-number-" + std::to_string(i * 7919 + r);
            ordered[i] = key;
            hashed[key] = i;
            list.push_back(key);
            pairs += 4;
        }
        for (auto &kv : ordered)
            checksum += kv.second.size();
        checksum += hashed.size() + list.size();
    }
    printf("%ld\n", pairs + (long)(checksum & 1));
    return 0;
}
