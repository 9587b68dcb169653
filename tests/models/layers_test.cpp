// Tests of the HEALPix pooling maths (functional.h) and of the small layers (layers.h).
#include "sphaera/models/layers.h"

#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/functional.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

using namespace sphaera::models;
using sphaera::testing::gradcheck;
using sphaera::testing::relative_error;

namespace {

class LayersTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(5); }
};

// Saves `module`, loads into `fresh`, and checks both give the same output on `x` (in eval mode).
template <typename Holder>
void expect_save_load_round_trip(Holder module, Holder fresh, const at::Tensor& x) {
  std::stringstream stream;
  torch::save(module, stream);
  torch::load(fresh, stream);
  module->eval();
  fresh->eval();
  EXPECT_TRUE(torch::equal(fresh->forward(x), module->forward(x)));
}

TEST_F(LayersTest, PoolingEqualsExplicitLoops) {
  const int64_t b = 2, c = 3, v = 16;
  auto x = torch::randn({b, c, v}, torch::kDouble);
  auto mean = healpix_pool(x, PoolMode::kMean);
  auto max = healpix_pool(x, PoolMode::kMax);
  EXPECT_FALSE(mean.indices.defined());
  ASSERT_EQ(mean.values.sizes(), (std::vector<int64_t>{b, c, v / 4}));
  ASSERT_EQ(max.indices.scalar_type(), torch::kLong);
  auto xa = x.accessor<double, 3>();
  auto ma = mean.values.accessor<double, 3>();
  auto xa_max = max.values.accessor<double, 3>();
  auto ia = max.indices.accessor<int64_t, 3>();
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      for (int64_t p = 0; p < v / 4; ++p) {
        double sum = 0, best = -1e300;
        int64_t where = -1;
        for (int64_t child = 4 * p; child < 4 * p + 4; ++child) {
          sum += xa[i][j][child];
          if (xa[i][j][child] > best) best = xa[i][j][child], where = child;
        }
        EXPECT_NEAR(ma[i][j][p], sum / 4, 1e-15);
        EXPECT_EQ(xa_max[i][j][p], best);
        EXPECT_EQ(ia[i][j][p], where);
      }
    }
  }
}

TEST_F(LayersTest, UnpoolingEqualsExplicitLoops) {
  const int64_t b = 2, c = 2, v = 5;
  auto x = torch::randn({b, c, v}, torch::kDouble);
  auto nearest = healpix_unpool(x);
  ASSERT_EQ(nearest.sizes(), (std::vector<int64_t>{b, c, 4 * v}));
  auto indices = torch::randint(0, 4, {b, c, v}, torch::kLong) + 4 * torch::arange(v, torch::kLong);
  auto scattered = healpix_unpool(x, indices);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      for (int64_t child = 0; child < 4 * v; ++child) {
        const double parent = x[i][j][child / 4].item<double>();
        EXPECT_EQ(nearest[i][j][child].item<double>(), parent);
        const bool chosen = indices[i][j][child / 4].item<int64_t>() == child;
        EXPECT_EQ(scattered[i][j][child].item<double>(), chosen ? parent : 0.0);
      }
    }
  }
}

TEST_F(LayersTest, MaxUnpoolingUndoesMaxPoolingOnTheMaxima) {
  auto x = torch::rand({3, 4, 32}) + 0.1;  // positive: the zeros unpooling adds are never maxima
  auto pooled = healpix_pool(x, PoolMode::kMax);
  auto restored = healpix_unpool(pooled.values, pooled.indices);
  EXPECT_TRUE(torch::equal(healpix_pool(restored, PoolMode::kMax).values, pooled.values));
  EXPECT_TRUE(torch::equal(restored.gather(2, pooled.indices), pooled.values));
  // mean pooling of nearest unpooling is the identity
  EXPECT_TRUE(torch::allclose(healpix_pool(healpix_unpool(x), PoolMode::kMean).values, x));
}

TEST_F(LayersTest, PoolingAcceptsNonContiguousInput) {
  auto base = torch::randn({8, 3, 2});  // [V, B, C]
  auto x = base.permute({1, 2, 0});     // [B, C, V], as ChebConv returns it
  ASSERT_FALSE(x.is_contiguous());
  for (auto mode : {PoolMode::kMean, PoolMode::kMax}) {
    auto a = healpix_pool(x, mode);
    auto b = healpix_pool(x.contiguous(), mode);
    EXPECT_TRUE(torch::equal(a.values, b.values));
    if (mode == PoolMode::kMax) {
      EXPECT_TRUE(torch::equal(a.indices, b.indices));
    }
  }
}

TEST_F(LayersTest, PoolingGradientsMatchFiniteDifferences) {
  for (auto mode : {PoolMode::kMean, PoolMode::kMax}) {
    auto x = torch::randn({2, 3, 16}, torch::kDouble).requires_grad_(true);
    auto result = gradcheck([&](const std::vector<at::Tensor>& in) { return healpix_pool(in[0], mode).values; }, {x});
    EXPECT_EQ(result.checked, x.numel());
    EXPECT_LT(result.max_rel_error, 1e-8) << to_string(mode) << ": " << result.worst;
  }
}

TEST_F(LayersTest, UnpoolingGradientsMatchFiniteDifferences) {
  auto x = torch::randn({2, 3, 4}, torch::kDouble).requires_grad_(true);
  auto nearest = gradcheck([](const std::vector<at::Tensor>& in) { return healpix_unpool(in[0]); }, {x});
  EXPECT_LT(nearest.max_rel_error, 1e-8) << nearest.worst;
  auto indices = torch::randint(0, 4, {2, 3, 4}, torch::kLong) + 4 * torch::arange(4, torch::kLong);
  auto by_indices = gradcheck([&](const std::vector<at::Tensor>& in) { return healpix_unpool(in[0], indices); }, {x});
  EXPECT_LT(by_indices.max_rel_error, 1e-8) << by_indices.worst;
}

TEST_F(LayersTest, PoolingRejectsBadInput) {
  EXPECT_THROW(healpix_pool(torch::randn({2, 3, 6}), PoolMode::kMax), sphaera::core::InvalidArgument);
  EXPECT_THROW(healpix_pool(torch::randn({2, 12}), PoolMode::kMean), sphaera::core::InvalidArgument);
  EXPECT_THROW(healpix_unpool(torch::randn({2, 3, 4}), torch::zeros({2, 3, 5}, torch::kLong)),
               sphaera::core::InvalidArgument);
  EXPECT_THROW(parse_pool_mode("avg"), sphaera::core::InvalidArgument);
  EXPECT_THROW(parse_unpool_mode("bilinear"), sphaera::core::InvalidArgument);
  HealpixUnpool by_indices(HealpixUnpoolOptions(UnpoolMode::kIndices));
  EXPECT_THROW(by_indices->forward(torch::randn({1, 1, 4})), sphaera::core::InvalidArgument);
}

TEST_F(LayersTest, PoolModulesMatchFunctions) {
  auto x = torch::randn({2, 3, 16});
  HealpixPool max_pool;  // default: max, as DeepSphere
  EXPECT_EQ(max_pool->options.mode(), PoolMode::kMax);
  EXPECT_TRUE(torch::equal(max_pool->forward(x), healpix_pool(x, PoolMode::kMax).values));
  auto r = max_pool->forward_with_indices(x);
  EXPECT_TRUE(torch::equal(r.indices, healpix_pool(x, PoolMode::kMax).indices));
  HealpixPool mean_pool(HealpixPoolOptions(PoolMode::kMean));
  EXPECT_TRUE(torch::equal(mean_pool->forward(x), healpix_pool(x, PoolMode::kMean).values));
  HealpixUnpool nearest;
  EXPECT_TRUE(torch::equal(nearest->forward(x), healpix_unpool(x)));
  HealpixUnpool by_indices(HealpixUnpoolOptions(UnpoolMode::kIndices));
  EXPECT_TRUE(torch::equal(by_indices->forward(r.values, r.indices), healpix_unpool(r.values, r.indices)));
  GlobalAvgPool gap;
  EXPECT_TRUE(torch::allclose(gap->forward(x), x.mean(2)));
  EXPECT_EQ(gap->forward(x).sizes(), (std::vector<int64_t>{2, 3}));
}

TEST_F(LayersTest, PixelBatchNormNormalisesOverBatchAndPixels) {
  PixelBatchNorm bn(PixelBatchNormOptions(3));
  auto x = torch::randn({4, 3, 20}, torch::kDouble) * 3 + 2;
  bn->to(torch::kDouble);
  auto y = bn->forward(x);
  auto mean = y.mean(std::vector<int64_t>{0, 2});
  auto var = y.var(std::vector<int64_t>{0, 2}, /*unbiased=*/false);
  EXPECT_LT(mean.abs().max().item<double>(), 1e-12);
  EXPECT_LT((var - 1).abs().max().item<double>(), 1e-4);  // eps = 1e-5 against a variance ≈ 9
  // running statistics moved by momentum 0.1 from (0, 1) towards the batch's
  auto expected_mean = 0.1 * x.mean(std::vector<int64_t>{0, 2});
  EXPECT_LT(relative_error(bn->bn->running_mean, expected_mean), 1e-12);
  EXPECT_THROW(bn->forward(torch::randn({4, 2, 20}, torch::kDouble)), sphaera::core::InvalidArgument);
}

// A graph layer's output is stored [V, B, C] and handed on as a [B, C, V] view: normalised in that layout (the
// fast path), output, gradients and running statistics equal those of the same maps stored [B, C, V].
TEST_F(LayersTest, PixelBatchNormGivesTheSameOnPixelMajorStorage) {
  const at::Tensor maps = torch::randn({4, 3, 20}, torch::kDouble) * 3 + 2;
  const at::Tensor stored = maps.permute({2, 0, 1}).contiguous();  // [V, B, C]
  const at::Tensor dy = torch::randn({4, 3, 20}, torch::kDouble);
  PixelBatchNorm a(PixelBatchNormOptions(3)), b(PixelBatchNormOptions(3));
  a->to(torch::kDouble);
  b->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    a->bn->weight.uniform_(0.5, 2);
    a->bn->bias.uniform_(-1, 1);
    b->bn->weight.copy_(a->bn->weight);
    b->bn->bias.copy_(a->bn->bias);
  }
  const at::Tensor x = maps.clone().requires_grad_(true);
  const at::Tensor leaf = stored.clone().requires_grad_(true);
  const at::Tensor view = leaf.permute({1, 2, 0});  // [B, C, V], strides (C, 1, B·C)
  ASSERT_FALSE(view.is_contiguous());
  const at::Tensor ya = a->forward(x), yb = b->forward(view);
  EXPECT_LT(relative_error(yb, ya), 1e-13);
  ya.backward(dy);
  yb.backward(dy);
  EXPECT_LT(relative_error(leaf.grad().permute({1, 2, 0}), x.grad()), 1e-13);
  EXPECT_LT(relative_error(b->bn->weight.grad(), a->bn->weight.grad()), 1e-13);
  EXPECT_LT(relative_error(b->bn->bias.grad(), a->bn->bias.grad()), 1e-13);
  EXPECT_LT(relative_error(b->bn->running_mean, a->bn->running_mean), 1e-13);
  EXPECT_LT(relative_error(b->bn->running_var, a->bn->running_var), 1e-13);
  a->eval();
  b->eval();
  EXPECT_LT(relative_error(b->forward(view), a->forward(x)), 1e-13);  // and with the running statistics
}

// Pooling a graph layer's [V, B, C]-stored output (a [B, C, V] view) gives what pooling the same maps stored
// [B, C, V] gives: values, indices of the maxima, gradients; and keeps the pixel-major layout.
TEST_F(LayersTest, HealpixPoolGivesTheSameOnPixelMajorStorage) {
  const at::Tensor maps = torch::randn({2, 3, 32}, torch::kDouble);
  for (const PoolMode mode : {PoolMode::kMax, PoolMode::kMean}) {
    const at::Tensor x = maps.clone().requires_grad_(true);
    const at::Tensor leaf = maps.permute({2, 0, 1}).contiguous().requires_grad_(true);
    const at::Tensor view = leaf.permute({1, 2, 0});
    const PoolResult a = healpix_pool(x, mode), b = healpix_pool(view, mode);
    EXPECT_TRUE(torch::equal(b.values, a.values)) << to_string(mode);
    EXPECT_TRUE(b.values.permute({2, 0, 1}).is_contiguous()) << to_string(mode);
    if (mode == PoolMode::kMax) {
      EXPECT_TRUE(torch::equal(b.indices, a.indices));
    }
    const at::Tensor dy = torch::randn_like(a.values);
    a.values.backward(dy);
    b.values.backward(dy);
    EXPECT_TRUE(torch::allclose(leaf.grad().permute({1, 2, 0}), x.grad(), 0.0, 1e-15)) << to_string(mode);
  }
}

TEST_F(LayersTest, SaveLoadGivesIdenticalOutputForEveryLayer) {
  auto x = torch::randn({2, 3, 16});
  expect_save_load_round_trip(HealpixPool(), HealpixPool(), x);
  expect_save_load_round_trip(HealpixPool(HealpixPoolOptions(PoolMode::kMean)),
                              HealpixPool(HealpixPoolOptions(PoolMode::kMean)), x);
  expect_save_load_round_trip(HealpixUnpool(), HealpixUnpool(), x);
  expect_save_load_round_trip(GlobalAvgPool(), GlobalAvgPool(), x);

  // Batch norm: trained statistics and affine parameters must come back.
  PixelBatchNorm bn(PixelBatchNormOptions(3));
  bn->train();
  for (int i = 0; i < 3; ++i) bn->forward(torch::randn({4, 3, 16}) * 2 + 1);
  {
    torch::NoGradGuard no_grad;
    bn->bn->weight.uniform_(0.5, 2);
    bn->bn->bias.uniform_(-1, 1);
  }
  PixelBatchNorm fresh(PixelBatchNormOptions(3));
  expect_save_load_round_trip(bn, fresh, x);
  EXPECT_TRUE(torch::equal(fresh->bn->running_var, bn->bn->running_var));
  EXPECT_TRUE(torch::equal(fresh->bn->num_batches_tracked, bn->bn->num_batches_tracked));

  HealpixUnpool by_indices(HealpixUnpoolOptions(UnpoolMode::kIndices));
  std::stringstream stream;
  torch::save(by_indices, stream);
  HealpixUnpool loaded(HealpixUnpoolOptions(UnpoolMode::kIndices));
  torch::load(loaded, stream);
  auto r = healpix_pool(x, PoolMode::kMax);
  EXPECT_TRUE(torch::equal(loaded->forward(r.values, r.indices), by_indices->forward(r.values, r.indices)));
}

}  // namespace
