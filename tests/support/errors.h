#pragma once
/// The message of the core::InvalidArgument a call throws: what tests of bad input compare.
#include <string>

#include "sphaera/core/check.h"

namespace sphaera::testing {

/// Runs `f`; returns the message of the core::InvalidArgument it throws, or "" when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const core::InvalidArgument& e) {
    return e.what();
  }
  return "";
}

}  // namespace sphaera::testing
