#include "sphaera/train/amp.h"

#include <vector>

#include <ATen/autocast_mode.h>
#include <torch/optim/optimizer.h>

#include "sphaera/core/check.h"

namespace sphaera::train {

AmpMode parse_amp(const std::string& name) {
  if (name == "none") return AmpMode::kNone;
  if (name == "bf16") return AmpMode::kBf16;
  if (name == "fp16") return AmpMode::kFp16;
  SPHAERA_CHECK(false, "unknown mixed precision '", name, "' (known: none, bf16, fp16)");
  return AmpMode::kNone;
}

AutocastGuard::AutocastGuard(AmpMode mode, c10::DeviceType device_type)
    : active_(mode != AmpMode::kNone), type_(device_type) {
  if (!active_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, mode == AmpMode::kBf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, previous_enabled_);
  at::autocast::set_autocast_dtype(type_, previous_dtype_);
}

GradScaler::GradScaler(bool enabled, double init_scale, double growth_factor, double backoff_factor,
                       int64_t growth_interval)
    : enabled_(enabled),
      scale_(enabled ? init_scale : 1.0),
      growth_factor_(growth_factor),
      backoff_factor_(backoff_factor),
      growth_interval_(growth_interval) {}

at::Tensor GradScaler::scale(const at::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  std::vector<at::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  bool overflow = false;
  if (!grads.empty()) {
    const auto options = at::TensorOptions().dtype(at::kFloat).device(grads.front().device());
    at::Tensor found_inf = at::zeros({1}, options);
    const at::Tensor inv_scale = at::full({1}, 1.0 / scale_, options);
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
    overflow = found_inf.item<float>() > 0.0f;  // one synchronisation a step, as the loss's own
  }
  if (overflow) {
    scale_ *= backoff_factor_;
    good_steps_ = 0;
    return false;
  }
  optimizer.step();
  if (++good_steps_ == growth_interval_) {
    scale_ *= growth_factor_;
    good_steps_ = 0;
  }
  return true;
}

nlohmann::json GradScaler::state() const { return {{"scale", scale_}, {"good_steps", good_steps_}}; }

void GradScaler::load_state(const nlohmann::json& state) {
  if (!enabled_ || state.is_null()) return;
  scale_ = state.at("scale").get<double>();
  good_steps_ = state.at("good_steps").get<int64_t>();
}

}  // namespace sphaera::train
