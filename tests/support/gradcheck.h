#pragma once
/// Finite-difference gradient checker for hand-written backwards (use in float64).
///
/// For a function f of several tensors, draws a fixed random cotangent r, and compares the autograd
/// gradient of the scalar s = <f(x), r> with central differences (s(x + h e_i) - s(x - h e_i)) / 2h for
/// every element i of every input that requires grad. Central differences err by O(h²·|f'''|) plus
/// rounding O(eps·|s| / h); with h = 1e-6 in float64 both stay near 1e-10 for O(1) data.
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace sphaera::testing {

struct GradcheckResult {
  double max_abs_error = 0.0;   ///< largest |analytic - numeric| over all checked elements
  double max_rel_error = 0.0;   ///< same, relative to max(1, |numeric|)
  int64_t checked = 0;          ///< number of elements checked
  std::string worst;            ///< where the largest error is ("input 1, element 17")
};

/// Checks d<f(inputs), r>/d inputs for every input with requires_grad(). Inputs must be float64 leaves.
GradcheckResult gradcheck(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                          const std::vector<at::Tensor>& inputs, double h = 1e-6, uint64_t seed = 1234);

}  // namespace sphaera::testing
