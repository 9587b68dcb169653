#pragma once
/// Mixed precision for training (config `solver.amp`): autocast of the forward pass and the loss in bfloat16
/// or float16, as torch.autocast; for float16 also the dynamic loss scaling of torch.amp.GradScaler (scale the
/// loss, unscale the gradients, skip a step whose gradients overflowed and halve the scale, double it after
/// `growth_interval` steps in a row without overflow). Graph and spectral layers keep their sparse products
/// and transforms in float32 (models/ upcasts reduced-precision inputs there); dense products run reduced.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <nlohmann/json.hpp>

namespace torch::optim {
class Optimizer;
}

namespace sphaera::train {

enum class AmpMode { kNone, kBf16, kFp16 };

/// "none", "bf16", "fp16"; throws core::InvalidArgument listing them.
AmpMode parse_amp(const std::string& name);

/// Autocast on one device type while it lives (restores the previous state).
class AutocastGuard {
 public:
  AutocastGuard(AmpMode mode, c10::DeviceType device_type);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_;
  c10::DeviceType type_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

class GradScaler {
 public:
  /// Disabled: scale() is the identity and step() steps the optimizer.
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int64_t growth_interval = 2000);

  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  /// loss · scale.
  at::Tensor scale(const at::Tensor& loss) const;
  /// Unscales the gradients of the optimizer's parameters in place; steps unless one of them holds inf or NaN;
  /// updates the scale. Returns whether the optimizer stepped.
  bool step(torch::optim::Optimizer& optimizer);

  /// The state a checkpoint keeps (scale and growth tracker), so that a resumed run scales as before.
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  bool enabled_;
  double scale_, growth_factor_, backoff_factor_;
  int64_t growth_interval_, good_steps_ = 0;
};

}  // namespace sphaera::train
