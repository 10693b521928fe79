// result.hpp -- the value-or-error type of the sync layer's upstream path
// (decode, resolve), which never throws.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace edgekey::sync {

// Exactly one of `value` and `error` is set: ok() <=> value has a value and
// error is empty. The error is one line naming what was wrong and where.
template <class T>
struct Result {
  std::optional<T> value;
  std::string error;

  static Result success(T v) { return Result{std::move(v), {}}; }
  static Result failure(std::string e) { return Result{std::nullopt, std::move(e)}; }
  bool ok() const { return value.has_value(); }
  explicit operator bool() const { return ok(); }
};

}  // namespace edgekey::sync
