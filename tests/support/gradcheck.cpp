#include "tests/support/gradcheck.h"

#include <cmath>

#include <torch/torch.h>

namespace sphaera::testing {

GradcheckResult gradcheck(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                          const std::vector<at::Tensor>& inputs, double h, uint64_t seed) {
  for (const auto& x : inputs) {
    TORCH_CHECK(x.scalar_type() == at::kDouble, "gradcheck: inputs must be float64");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor r;
  {
    auto out = f(inputs);
    // Drawn on the host (the generator is a CPU one), then placed beside the output (any device).
    r = at::randn(out.sizes(), gen, at::TensorOptions().dtype(out.scalar_type())).to(out.device());
    auto s = (out * r).sum();
    std::vector<at::Tensor> wrt;
    for (const auto& x : inputs) {
      if (x.requires_grad()) wrt.push_back(x);
    }
    auto grads = torch::autograd::grad({s}, wrt, {}, false, false, /*allow_unused=*/true);
    GradcheckResult result;
    size_t g = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].requires_grad()) continue;
      auto analytic = grads[g++];
      if (!analytic.defined()) analytic = at::zeros_like(inputs[i]);
      analytic = analytic.contiguous();
      auto x = inputs[i];
      auto flat = x.detach().view(-1);  // shares storage with the input
      for (int64_t e = 0; e < flat.numel(); ++e) {
        const double orig = flat[e].item<double>();
        double sp, sm;
        {
          torch::NoGradGuard ng;
          flat[e] = orig + h;
          sp = (f(inputs) * r).sum().item<double>();
          flat[e] = orig - h;
          sm = (f(inputs) * r).sum().item<double>();
          flat[e] = orig;
        }
        const double numeric = (sp - sm) / (2 * h);
        const double a = analytic.view(-1)[e].item<double>();
        const double abs_err = std::abs(a - numeric);
        const double rel_err = abs_err / std::max(1.0, std::abs(numeric));
        if (rel_err > result.max_rel_error) {
          result.max_rel_error = rel_err;
          result.worst = "input " + std::to_string(i) + ", element " + std::to_string(e) + ": analytic " +
                         std::to_string(a) + ", numeric " + std::to_string(numeric);
        }
        result.max_abs_error = std::max(result.max_abs_error, abs_err);
        ++result.checked;
      }
    }
    return result;
  }
}

}  // namespace sphaera::testing
