#include "sphaera/models/cheb_conv.h"

#include <cmath>
#include <ostream>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/functional.h"

namespace sphaera::models {

namespace {
void check_options(const ChebConvOptions& o) {
  SPHAERA_CHECK(o.in_channels() >= 1 && o.out_channels() >= 1 && o.kernel_size() >= 1,
                "ChebConv: in_channels, out_channels and K must be at least 1, got ", o.in_channels(), ", ",
                o.out_channels(), ", ", o.kernel_size());
}
}  // namespace

ChebConvImpl::ChebConvImpl(ChebConvOptions options_, std::shared_ptr<const core::CsrMatrix> rescaled_laplacian)
    : options(std::move(options_)), fixed_(std::move(rescaled_laplacian)) {
  check_options(options);
  SPHAERA_CHECK(fixed_ != nullptr || options.kernel_size() == 1,
                "ChebConv: a Laplacian is needed for K = ", options.kernel_size(), " > 1");
  if (fixed_ != nullptr) {
    SPHAERA_CHECK(fixed_->rows() == fixed_->cols(), "ChebConv: the Laplacian must be square, got [", fixed_->rows(),
                  ", ", fixed_->cols(), "]");
  }
  converted_ = fixed_;
  reset();
}

ChebConvImpl::ChebConvImpl(ChebConvOptions options_, LaplacianProvider provider)
    : options(std::move(options_)), provider_(std::move(provider)) {
  check_options(options);
  SPHAERA_CHECK(static_cast<bool>(provider_), "ChebConv: empty Laplacian provider");
  reset();
}

void ChebConvImpl::reset() {
  const int64_t cin = options.in_channels();
  const int64_t k = options.kernel_size();
  const int64_t cout = options.out_channels();
  // He (Kaiming normal, fan-in) initialisation: each output sums Cin·K terms.
  const double std = std::sqrt(2.0 / static_cast<double>(cin * k));
  weight = register_parameter("weight", torch::randn({cin, k, cout}) * std);
  if (options.bias()) {
    bias = register_parameter("bias", torch::zeros({cout}));
  } else {
    bias = at::Tensor();
  }
}

void ChebConvImpl::pretty_print(std::ostream& stream) const {
  stream << "sphaera::models::ChebConv(" << options.in_channels() << ", " << options.out_channels()
         << ", K=" << options.kernel_size() << ", bias=" << (options.bias() ? "true" : "false") << ")";
}

std::shared_ptr<const core::CsrMatrix> ChebConvImpl::laplacian(c10::ScalarType dtype, c10::Device device) {
  if (provider_) {
    auto l = provider_(dtype, device);
    SPHAERA_CHECK(l != nullptr, "ChebConv: the Laplacian provider returned nothing");
    return l;
  }
  if (fixed_ == nullptr) return nullptr;
  const auto& values = converted_->values();
  if (values.scalar_type() != dtype || values.device() != device) {
    converted_ = std::make_shared<const core::CsrMatrix>(fixed_->to(device, dtype));
  }
  return converted_;
}

at::Tensor ChebConvImpl::forward(const at::Tensor& input) {
  SPHAERA_CHECK(input.defined() && input.dim() == 3 && input.size(1) == options.in_channels(),
                "ChebConv: input must be [B, ", options.in_channels(), ", V], got ",
                input.defined() ? input.sizes() : c10::IntArrayRef{});
  // Mixed precision: a bfloat16/float16 input (the output of a layer under autocast) is raised to the weight's
  // precision; the layer (its sparse products and the mix, memory-bound both) runs in it.
  const at::Tensor x = at::isReducedFloatingType(input.scalar_type()) ? input.to(weight.scalar_type()) : input;
  if (options.kernel_size() == 1) {
    // T_0 only: the Laplacian is never read (and may be absent).
    return cheb_conv(x, core::CsrMatrix(), weight, bias);
  }
  const auto l = laplacian(x.scalar_type(), x.device());
  return cheb_conv(x, *l, weight, bias);
}

}  // namespace sphaera::models
