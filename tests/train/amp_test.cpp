// Mixed precision: the loss scaler against its definition (unscale, skip on overflow, back off, grow), the
// autocast guard, and a hybrid graph + spectral network trained one step under bfloat16 autocast.
#include "sphaera/train/amp.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/registry.h"
#include "sphaera/transforms/healpix_grid.h"

namespace sphaera::train {
namespace {

TEST(GradScaler, UnscalesStepsAndGrowsAfterTheInterval) {
  auto p = torch::ones({3}, torch::kFloat).requires_grad_(true);
  torch::optim::SGD sgd({p}, torch::optim::SGDOptions(0.5));
  GradScaler scaler(true, /*init_scale=*/8.0, /*growth=*/2.0, /*backoff=*/0.5, /*growth_interval=*/2);
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    scaler.scale((p * torch::tensor({1.0f, 2.0f, 3.0f})).sum()).backward();
    EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0f, 2.0f, 3.0f}) * static_cast<float>(scaler.scale())));
    ASSERT_TRUE(scaler.step(sgd));
    EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0f, 2.0f, 3.0f})));  // unscaled before the step
  }
  EXPECT_TRUE(torch::allclose(p.detach(), torch::tensor({0.0f, -1.0f, -2.0f})));
  EXPECT_EQ(scaler.scale(), 16.0);  // two good steps in a row: doubled
}

TEST(GradScaler, SkipsAStepWhoseGradientsOverflowAndBacksOff) {
  auto p = torch::ones({2}, torch::kFloat).requires_grad_(true);
  torch::optim::SGD sgd({p}, torch::optim::SGDOptions(1.0));
  GradScaler scaler(true, 1024.0);
  sgd.zero_grad();
  p.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(scaler.step(sgd));
  EXPECT_TRUE(torch::equal(p.detach(), torch::ones({2})));  // untouched
  EXPECT_EQ(scaler.scale(), 512.0);
  // The state a checkpoint keeps brings the same scale back.
  GradScaler resumed(true);
  resumed.load_state(scaler.state());
  EXPECT_EQ(resumed.scale(), 512.0);
}

TEST(GradScaler, DisabledIsPlainTraining) {
  auto p = torch::ones({1}, torch::kFloat).requires_grad_(true);
  torch::optim::SGD sgd({p}, torch::optim::SGDOptions(1.0));
  GradScaler scaler(false);
  const auto loss = (3 * p).sum();
  EXPECT_TRUE(torch::equal(scaler.scale(loss), loss));
  loss.backward();
  EXPECT_TRUE(scaler.step(sgd));
  EXPECT_TRUE(torch::allclose(p.detach(), torch::tensor({-2.0f})));
  EXPECT_THROW(parse_amp("fp8"), core::InvalidArgument);
}

TEST(Autocast, GuardLowersDenseProductsAndRestores) {
  const auto a = torch::randn({4, 4}), b = torch::randn({4, 4});
  {
    const AutocastGuard guard(AmpMode::kBf16, c10::DeviceType::CPU);
    EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16);
  }
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
  const AutocastGuard none(AmpMode::kNone, c10::DeviceType::CPU);
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
}

// Graph and spectral layers take the bfloat16 outputs of autocast layers: their sparse products and
// transforms run in float32, the network trains, and its loss stays near the float32 one.
TEST(Autocast, HybridNetworkTrainsUnderBfloat16) {
  torch::manual_seed(3);
  const nlohmann::json model = {{"layers", nlohmann::json::array({{{"type", "cheb_conv"}, {"out", 8}, {"K", 3}},
                                                                  {{"type", "relu"}},
                                                                  {{"type", "cheb_conv"}, {"out", 8}, {"K", 3}},
                                                                  {{"type", "spectral_conv"}, {"out", 4}, {"lmax", 8}},
                                                                  {{"type", "global_avg_pool"}},
                                                                  {{"type", "linear"}, {"out", 2}}})}};
  models::ModelInputs in;
  in.grid = std::make_shared<transforms::HealpixGrid>(4);
  in.in_channels = 1;
  in.num_classes = 2;
  auto net = models::build_network(model, in);
  const auto x = torch::randn({4, 1, 192});
  const auto y = torch::tensor({0, 1, 0, 1}, torch::kLong);
  const double reference = torch::nn::functional::cross_entropy(net->forward(x), y).item<double>();
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.01));
  at::Tensor loss;
  {
    const AutocastGuard guard(AmpMode::kBf16, c10::DeviceType::CPU);
    loss = torch::nn::functional::cross_entropy(net->forward(x), y);
  }
  EXPECT_EQ(loss.scalar_type(), at::kFloat);  // cross_entropy runs in float32 under autocast
  // bfloat16 keeps 8 bits of mantissa: the loss agrees to a few parts in a hundred.
  EXPECT_NEAR(loss.item<double>(), reference, 0.05 * reference);
  sgd.zero_grad();
  loss.backward();
  for (const auto& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
  }
  sgd.step();
}

}  // namespace
}  // namespace sphaera::train
