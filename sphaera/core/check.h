#pragma once
/// Argument checks that throw (catchable) exceptions carrying what went wrong and where.
///
///   SPHAERA_CHECK(x.dim() == 3, "ChebConv: input must be [B, C, V], got ", x.sizes());
///
/// throws sphaera::core::InvalidArgument("ChebConv: input must be [B, C, V], got [2, 3]").
#include <sstream>
#include <stdexcept>
#include <string>

namespace sphaera::core {

/// Thrown on bad input anywhere in Sphaera: a wrong shape, value, option, file or config key.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace sphaera::core

/// Throws sphaera::core::InvalidArgument with the concatenated message when `cond` is false.
#define SPHAERA_CHECK(cond, ...)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      throw ::sphaera::core::InvalidArgument(::sphaera::core::detail::concat(__VA_ARGS__)); \
    }                                                                              \
  } while (0)
