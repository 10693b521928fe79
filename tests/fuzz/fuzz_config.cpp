// libFuzzer entry point: any bytes given to the edgekey.yaml loader either
// load or raise ConfigError; anything else (a crash, another exception,
// a sanitizer report) is a bug. Built with clang and -DEDGEKEY_FUZZ=ON.
#include "daemon/config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    const auto c = edgekey::daemon::load_config_from_string(
        std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.yaml", "/base");
    (void)edgekey::daemon::describe(c);
    (void)edgekey::daemon::to_table_options(c);
  } catch (const edgekey::daemon::ConfigError &) {
  }
  return 0;
}
