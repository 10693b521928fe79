// expected.hpp -- the value-or-error type of the sync layer's upstream path
// (decode, resolve), which never throws. (edgekey::Result is the other
// thing: the public C++ API's answer to a validation.)
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace edgekey::sync {

// Exactly one of `value` and `error` is set: ok() <=> value has a value and
// error is empty. The error is one line naming what was wrong and where.
template <class T>
struct Expected {
  std::optional<T> value;
  std::string error;

  static Expected success(T v) { return Expected{std::move(v), {}}; }
  static Expected failure(std::string e) { return Expected{std::nullopt, std::move(e)}; }
  bool ok() const { return value.has_value(); }
  explicit operator bool() const { return ok(); }
};

}  // namespace edgekey::sync
