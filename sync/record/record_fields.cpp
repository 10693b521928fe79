// record_fields.cpp -- field-by-field decoding of a key record (see record_fields.hpp).
#include "sync/record/record_fields.hpp"

#include <array>
#include <charconv>
#include <type_traits>

namespace edgekey::sync {
namespace {

bool is_text(const RawValue &v) {
  return v.kind == RawValue::Kind::String || v.kind == RawValue::Kind::Plain;
}

// Reads fields by name; remembers each field's line for errors.
class Fields {
 public:
  Fields(const std::vector<RawField> &f, int record_line) : f_(f), record_line_(record_line) {}

  const RawField *find(std::string_view name) const {
    for (const auto &x : f_)
      if (x.name == name) return &x;
    return nullptr;
  }
  int line_of(std::string_view name) const {
    const RawField *x = find(name);
    return x && x->line > 0 ? x->line : record_line_;
  }
  FieldError error(std::string_view name, std::string what) const {
    return FieldError{std::string(name), std::move(what), line_of(name)};
  }

  // Required or optional text field. An absent or null optional leaves `out`.
  std::optional<FieldError> text(std::string_view name, std::string &out, bool required) const {
    const RawField *x = find(name);
    if (!x || x->value.kind == RawValue::Kind::Null) {
      if (!required) return std::nullopt;
      return error(name, x ? "required, got null" : "required, but missing");
    }
    if (!is_text(x->value)) return error(name, "expected a string, got " + describe_raw(x->value));
    out = x->value.text;
    return std::nullopt;
  }

  // Enum field: text that `parse` accepts; `expected` lists the choices.
  template <class E, class Parse>
  std::optional<FieldError> choice(std::string_view name, E &out, Parse parse,
                                   const char *expected) const {
    const RawField *x = find(name);
    if (!x) return error(name, std::string("required, but missing (expected ") + expected + ")");
    if (!is_text(x->value) || !parse(x->value.text, out))
      return error(name, std::string("expected ") + expected + ", got " + describe_raw(x->value));
    return std::nullopt;
  }

  // List of strings; absent or null = empty.
  std::optional<FieldError> list(std::string_view name, std::vector<std::string> &out) const {
    const RawField *x = find(name);
    if (!x || x->value.kind == RawValue::Kind::Null) return std::nullopt;
    if (x->value.kind != RawValue::Kind::List)
      return error(name, "expected a list of strings, got " + describe_raw(x->value));
    out.clear();
    out.reserve(x->value.items.size());
    for (const auto &item : x->value.items) {
      if (!is_text(item))
        return error(name, "expected a list of strings, got " + describe_raw(item) + " in it");
      out.push_back(item.text);
    }
    return std::nullopt;
  }

  // RFC 3339 time; absent or null = nullopt.
  std::optional<FieldError> time(std::string_view name, std::optional<int64_t> &out) const {
    const RawField *x = find(name);
    if (!x || x->value.kind == RawValue::Kind::Null) return std::nullopt;
    int64_t t;
    if (!is_text(x->value) || !parse_time(x->value.text, t))
      return error(name, "expected an RFC 3339 time like 2026-11-22T10:00:00Z (or null), got " +
                             describe_raw(x->value));
    out = t;
    return std::nullopt;
  }

  // Integer (JSON number or YAML plain scalar); absent or null = nullopt.
  std::optional<FieldError> integer(std::string_view name, std::optional<int64_t> &out) const {
    const RawField *x = find(name);
    if (!x || x->value.kind == RawValue::Kind::Null) return std::nullopt;
    const RawValue &v = x->value;
    int64_t n = 0;
    bool ok = v.kind == RawValue::Kind::Number || v.kind == RawValue::Kind::Plain;
    if (ok) {
      auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
      ok = ec == std::errc() && end == v.text.data() + v.text.size();
    }
    if (!ok) return error(name, "expected an integer, got " + describe_raw(v));
    out = n;
    return std::nullopt;
  }

 private:
  const std::vector<RawField> &f_;
  int record_line_;
};

}  // namespace

bool is_known_field(std::string_view name) { return field_index(name) != kRecordFieldCount; }

std::string describe_raw(const RawValue &v) {
  switch (v.kind) {
    case RawValue::Kind::Null: return "null";
    case RawValue::Kind::String:
    case RawValue::Kind::Plain: return quote_for_error(v.text);
    case RawValue::Kind::Number:
    case RawValue::Kind::Bool: {
      std::string q = quote_for_error(v.text);
      return q.substr(1, q.size() - 2);
    }
    case RawValue::Kind::List: return "a list";
    case RawValue::Kind::Map: return "a map";
  }
  return "a value";
}

FieldsOutcome record_from_fields(const std::vector<RawField> &fields, int record_line) {
  FieldsOutcome out;
  Fields f(fields, record_line);
  if (const RawField *id = f.find("id"); id && is_text(id->value)) out.id = id->value.text;

  // Each known name at most once (linear: a hostile file may repeat one many times).
  std::array<const RawField *, kRecordFieldCount> seen{};
  for (const auto &x : fields) {
    const size_t k = field_index(x.name);
    if (k == kRecordFieldCount) continue;
    if (seen[k]) {
      const int first = seen[k]->line;  // 0: a JSON record, which has no lines
      out.error = FieldError{x.name,
                             first > 0 ? "given twice (also at line " + std::to_string(first) + ")" : "given twice",
                             x.line > 0 ? x.line : record_line};
      return out;
    }
    seen[k] = &x;
  }

  KeyRecord r;
  std::optional<FieldError> e;
  for_each_field(r, [&](const FieldSpec &s, auto &m) {
    if (e) return;  // the first error decides
    using M = std::remove_reference_t<decltype(m)>;
    if constexpr (std::is_same_v<M, std::string>) e = f.text(s.name, m, s.required);
    else if constexpr (std::is_same_v<M, std::vector<std::string>>) e = f.list(s.name, m);
    else if constexpr (std::is_same_v<M, std::optional<int64_t>>)
      e = s.kind == FieldKind::Time ? f.time(s.name, m) : f.integer(s.name, m);
    else e = f.choice(s.name, m, [](std::string_view t, M &o) { return parse_choice(t, o); }, choice_expected(m));
  });
  if (e) {
    out.error = std::move(*e);
    return out;
  }

  FieldError why;
  out.record = ValidRecord::check(std::move(r), why);
  if (!out.record) {
    why.line = f.line_of(why.field);
    out.error = std::move(why);
  }
  return out;
}

}  // namespace edgekey::sync
