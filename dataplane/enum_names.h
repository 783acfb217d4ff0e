// Names of a small enum whose values run 0, 1, 2, ...: one table, in the
// enum's order, serves both ways (config keys and log lines).
#pragma once

#include <cstddef>
#include <string_view>

namespace ws {

template <typename E, size_t N>
bool enum_from_name(const char* const (&names)[N], std::string_view s, E* out) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  return false;
}

template <typename E, size_t N>
const char* enum_name(const char* const (&names)[N], E e) {
  const auto i = static_cast<size_t>(e);
  return i < N ? names[i] : "?";
}

}  // namespace ws
