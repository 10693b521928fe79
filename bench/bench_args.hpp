// bench_args.hpp -- the table-size flag the benchmarks share:
// --sizes=10000,1000000 (positive key counts, comma separated).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace edgekey::bench {

// True when `arg` is --sizes=...: `sizes` then holds its values. A value
// that is not a positive integer exits with a message naming it.
inline bool take_sizes_flag(const char *arg, std::vector<int64_t> &sizes) {
  constexpr std::string_view kFlag = "--sizes=";
  if (std::strncmp(arg, kFlag.data(), kFlag.size()) != 0) return false;
  sizes.clear();
  std::string_view rest(arg + kFlag.size());
  while (true) {
    const std::string_view item = rest.substr(0, rest.find(','));
    int64_t n = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (ec != std::errc() || end != item.data() + item.size() || n <= 0) {
      std::fprintf(stderr, "%s: expected positive key counts separated by commas, e.g. --sizes=10000,1000000\n", arg);
      std::exit(2);
    }
    sizes.push_back(n);
    if (item.size() == rest.size()) return true;
    rest.remove_prefix(item.size() + 1);
  }
}

}  // namespace edgekey::bench
