// libFuzzer entry point for the key record decoders (JSON and keyset YAML).
// Built as `fuzz_record` with clang and -DEDGEKEY_FUZZ=ON; test_sync also
// links it and replays mutated seeds through it (test_fuzz_smoke.cpp).
//
// Properties checked beyond "no crash, no throw": whatever decodes survives
// an encode/decode round trip unchanged.
#include "sync/record/keyset_file.hpp"
#include "sync/record/record_json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace edgekey::sync;
  std::string_view text(reinterpret_cast<const char *>(data), size);

  Expected<ValidRecord> rec = decode_record_json(text);
  if (rec.ok()) {
    Expected<ValidRecord> again = decode_record_json(encode_record_json(*rec.value));
    if (!again.ok() || !(*again.value == *rec.value)) std::abort();
  } else if (rec.error.empty()) {
    std::abort();
  }

  KeysetParse set = parse_keyset_yaml(text, "fuzz");
  if (set.ok()) {
    if (set.records.size() != set.record_lines.size()) std::abort();
    KeysetParse again = parse_keyset_yaml(emit_keyset_yaml(set.records), "fuzz-again");
    if (!again.ok() || !again.rejected.empty() || again.records != set.records) std::abort();
  } else if (!set.records.empty() || !set.rejected.empty()) {
    std::abort();
  }
  return 0;
}
