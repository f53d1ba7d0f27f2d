// C++ containers with a big live set: ROUNDS x LINES lines of text, each
// split into words (strings too long for the small-string buffer), sorted
// and kept live in a std::map and a std::unordered_map of string -> vector
// of strings until the end of the program.
//   containers_live ROUNDS LINES    prints the number of lines kept
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 8;
    long lines = argc > 2 ? atol(argv[2]) : 50000;
    std::map<std::string, std::vector<std::string>> ordered;
    std::unordered_map<std::string, std::vector<std::string>> hashed;
    unsigned long checksum = 0;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < lines; i++) {
            std::string line;
            for (long w = 0; w < 4; w++)
                line += "token-" + std::to_string((i * 31 + w * 7919 + r * 104729) % 1000003) + "-of-a-line ";
            std::vector<std::string> words;
            std::istringstream in(line);
            for (std::string word; in >> word;)
                words.push_back(word);
            std::sort(words.begin(), words.end());
            std::string key = "round-" + std::to_string(r) + "-line-" + std::to_string(i);
            ordered[key] = words;
            hashed[std::move(key)] = std::move(words);
        }
        for (auto &kv : ordered)
            checksum += kv.second.front().size();
    }
    std::printf("%zu\n", ordered.size() + hashed.size() + (checksum & 0));
    return 0;
}
