#include "sphaera/models/network.h"

#include <iomanip>
#include <memory>
#include <sstream>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/layers.h"

namespace sphaera::models {

namespace {
std::string describe(const transforms::GridPtr& grid, int64_t channels) {
  std::ostringstream out;
  if (grid) {
    out << "[B, " << channels << ", " << grid->size() << "] on " << grid->key();
  } else {
    out << "[B, " << channels << "]";
  }
  return out.str();
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}
}  // namespace

NetworkImpl::NetworkImpl(transforms::GridPtr input_grid, int64_t input_channels, std::vector<NetworkLayer> layers)
    : input_grid_(std::move(input_grid)), input_channels_(input_channels), layers_(std::move(layers)) {
  SPHAERA_CHECK(input_grid_ != nullptr, "Network: the input grid is missing");
  SPHAERA_CHECK(input_channels_ >= 1, "Network: input channels must be at least 1, got ", input_channels_);
  SPHAERA_CHECK(!layers_.empty(), "Network: no layers");
  roles_.reserve(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& layer = layers_[i];
    SPHAERA_CHECK(!layer.module.is_empty(), "Network: layer ", i, " (", layer.type, ") has no module");
    Role role = Role::kPlain;
    const auto module = layer.module.ptr();
    if (std::dynamic_pointer_cast<HealpixPoolImpl>(module)) {
      role = Role::kPool;
    } else if (std::dynamic_pointer_cast<HealpixUnpoolImpl>(module)) {
      role = Role::kUnpool;
    }
    roles_.push_back(role);
    register_module(std::to_string(i) + "_" + layer.type, module);
  }
}

at::Tensor NetworkImpl::forward(const at::Tensor& x) { return forward_observed(x, {}); }

at::Tensor NetworkImpl::forward_observed(const at::Tensor& x,
                                         const std::function<void(size_t, const at::Tensor&)>& observe) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3 && x.size(1) == input_channels_ && x.size(2) == input_grid_->size(),
                "Network: input must be [B, ", input_channels_, ", ", input_grid_->size(), "] (channels, pixels of ",
                input_grid_->key(), "), got ", x.defined() ? x.sizes() : c10::IntArrayRef{});
  std::vector<at::Tensor> pool_indices;
  at::Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& layer = layers_[i];
    switch (roles_[i]) {
      case Role::kPool: {
        auto result = layer.module.get<HealpixPool>()->forward_with_indices(y);
        pool_indices.push_back(result.indices);  // undefined for mean pooling
        y = result.values;
        break;
      }
      case Role::kUnpool: {
        at::Tensor indices;
        if (!pool_indices.empty()) {
          indices = pool_indices.back();
          pool_indices.pop_back();
        }
        y = layer.module.get<HealpixUnpool>()->forward(y, indices);
        break;
      }
      case Role::kPlain:
        y = layer.module.forward(y);
        break;
    }
    if (observe) observe(i, y);
  }
  return y;
}

int64_t NetworkImpl::parameter_count() const { return count_parameters(*this); }

std::string NetworkImpl::summary() const {
  std::ostringstream out;
  out << "  input     " << describe(input_grid_, input_channels_) << "\n";
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& layer = layers_[i];
    std::ostringstream printed;
    layer.module.ptr()->pretty_print(printed);
    std::string module = printed.str();
    for (const std::string prefix : {"sphaera::models::", "torch::nn::"}) {
      if (module.rfind(prefix, 0) == 0) module = module.substr(prefix.size());
    }
    out << "  " << std::setw(2) << i << " " << std::left << std::setw(16) << layer.type << std::right << " -> "
        << describe(layer.grid, layer.channels) << "  " << count_parameters(*layer.module.ptr()) << " params  "
        << module << "\n";
  }
  out << "  " << parameter_count() << " parameters\n";
  return out.str();
}

}  // namespace sphaera::models
