#pragma once
/// Internal: records a linear map computed outside autograd so that its backward applies a given adjoint (itself
/// differentiable, so double backward works). Used by the SHT, point evaluation and rotations.
#include <functional>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace sphaera::transforms::detail {

using LinearMap = std::function<at::Tensor(const at::Tensor&)>;

/// Autograd node of a linear map: its backward applies the adjoint.
struct LinearBackward : torch::autograd::Node {
  LinearMap adjoint;
  std::string label;
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    return {grads[0].defined() ? adjoint(grads[0]) : at::Tensor()};
  }
  std::string name() const override { return label; }
};

/// y = op(x) for a linear op computed outside autograd (on x made contiguous), recorded so that the backward of y
/// applies `adjoint` to the incoming gradient.
inline at::Tensor apply_linear(const at::Tensor& x, const LinearMap& op, LinearMap adjoint, const char* label) {
  at::Tensor y;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    y = op(x.contiguous());
  }
  if (x.requires_grad() && at::GradMode::is_enabled()) {
    auto node = std::shared_ptr<LinearBackward>(new LinearBackward(), torch::autograd::deleteNode);
    node->adjoint = std::move(adjoint);
    node->label = label;
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    torch::autograd::set_history(y, node);
  }
  return y;
}

}  // namespace sphaera::transforms::detail
