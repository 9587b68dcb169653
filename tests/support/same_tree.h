#pragma once
/// Whether two JSON trees are the same, floats compared bit for bit and NaN equal to NaN (json's == says
/// NaN != NaN): how config round trips are checked, by the config tests and the fuzz_config target (this
/// header needs nothing but nlohmann::json, so the standalone fuzz project includes it too).
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace sphaera::testing {

inline bool same_tree(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_number_float()) {
    const double x = a.get<double>(), y = b.get<double>();
    return std::memcmp(&x, &y, sizeof x) == 0 || (std::isnan(x) && std::isnan(y));
  }
  if (a.is_object() || a.is_array()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt) {
      if ((a.is_object() && it.key() != jt.key()) || !same_tree(*it, *jt)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace sphaera::testing
