// Layers and a training step on CUDA against the CPU on the same input (float64 to 1e-12, float32 to 1e-5
// relative), and the proof that their forward and backward on CUDA never copy to the host. Every test skips
// without a CUDA device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/registry.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/transforms/graph.h"
#include "sphaera/transforms/healpix_grid.h"
#include "sphaera/transforms/ring_grids.h"
#include "tests/support/cuda_sync.h"
#include "tests/support/npy.h"

namespace sphaera::models {
namespace {

using testing::relative_error;

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

// f(module, x) on the CPU and on CUDA from the same weights: output, input gradient, weight gradients.
template <typename Module>
void expect_same_on_cuda(Module cpu, Module cuda, at::Tensor x, double tolerance, const std::string& what) {
  cuda->to(torch::kCUDA);
  const auto x_cpu = x.clone().requires_grad_(true);
  const auto x_cuda = x.cuda().requires_grad_(true);
  const auto y_cpu = cpu->forward(x_cpu);
  const auto y_cuda = cuda->forward(x_cuda);
  ASSERT_TRUE(y_cuda.is_cuda()) << what;
  EXPECT_LT(relative_error(y_cuda.cpu(), y_cpu), tolerance) << what << ": forward";
  const auto g = torch::randn(y_cpu.sizes(), y_cpu.options());
  y_cpu.backward(g);
  y_cuda.backward(g.cuda());
  EXPECT_LT(relative_error(x_cuda.grad().cpu(), x_cpu.grad()), tolerance) << what << ": input gradient";
  const auto pc = cpu->parameters(), pg = cuda->parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    EXPECT_LT(relative_error(pg[i].grad().cpu(), pc[i].grad()), tolerance) << what << ": parameter " << i;
  }
  // Once the geometry is on the device, forward and backward stay there.
  EXPECT_NO_THROW(testing::run_without_host_sync([&] {
    const auto x2 = x_cuda.detach().clone().requires_grad_(true);
    cuda->forward(x2).backward(g.cuda());
  })) << what;
}

LaplacianProvider provider_for(const transforms::GridPtr& grid) {
  return [grid](c10::ScalarType dtype, c10::Device device) {
    return transforms::cached_rescaled_laplacian(grid, transforms::GraphOptions{}, dtype, device);
  };
}

TEST(Device, ChebConvOnCudaEqualsCpu) {
  SKIP_WITHOUT_CUDA();
  const auto grid = std::make_shared<transforms::HealpixGrid>(16);
  for (const auto& [dtype, tolerance] : {std::make_pair(torch::kDouble, 1e-12), std::make_pair(torch::kFloat, 1e-5)}) {
    torch::manual_seed(5);
    ChebConv cpu(ChebConvOptions(3, 4, 5), provider_for(grid));
    cpu->to(dtype);
    ChebConv cuda(ChebConvOptions(3, 4, 5), provider_for(grid));
    cuda->to(dtype);
    torch::NoGradGuard no_grad;
    cuda->weight.copy_(cpu->weight);
    cuda->bias.copy_(cpu->bias);
    torch::AutoGradMode enable(true);
    expect_same_on_cuda(cpu, cuda, torch::randn({2, 3, grid->size()}, dtype), tolerance, "ChebConv");
  }
}

TEST(Device, SpectralConvOnCudaEqualsCpu) {
  SKIP_WITHOUT_CUDA();
  const std::vector<transforms::GridPtr> grids = {std::make_shared<transforms::HealpixGrid>(16),
                                                  transforms::GaussLegendreGrid::for_lmax(32)};
  for (const auto& grid : grids) {
    for (const auto& [dtype, tolerance] :
         {std::make_pair(torch::kDouble, 1e-12), std::make_pair(torch::kFloat, 1e-5)}) {
      torch::manual_seed(6);
      SpectralConv cpu(SpectralConvOptions(2, 3, 24).anchors(5), grid);
      cpu->to(dtype);
      SpectralConv cuda(SpectralConvOptions(2, 3, 24).anchors(5), grid);
      cuda->to(dtype);
      torch::NoGradGuard no_grad;
      cuda->weight.copy_(cpu->weight);
      cuda->bias.copy_(cpu->bias);
      torch::AutoGradMode enable(true);
      expect_same_on_cuda(cpu, cuda, torch::randn({2, 2, grid->size()}, dtype), tolerance,
                          "SpectralConv on " + grid->key());
    }
  }
}

// One SGD step of a hybrid network (graph, pooling, spectral, dense head) from the same weights.
TEST(Device, TrainingStepOnCudaEqualsCpu) {
  SKIP_WITHOUT_CUDA();
  const nlohmann::json model = {{"layers", nlohmann::json::array({{{"type", "cheb_conv"}, {"out", 8}, {"K", 4}},
                                                                  {{"type", "batch_norm"}},
                                                                  {{"type", "relu"}},
                                                                  {{"type", "healpix_pool"}},
                                                                  {{"type", "spectral_conv"}, {"out", 8}, {"lmax", 12}},
                                                                  {{"type", "global_avg_pool"}},
                                                                  {{"type", "linear"}, {"out", 3}}})}};
  ModelInputs in;
  in.grid = std::make_shared<transforms::HealpixGrid>(16);
  in.in_channels = 2;
  in.num_classes = 3;
  torch::manual_seed(8);
  auto cpu = build_network(model, in);
  torch::manual_seed(8);
  auto cuda = build_network(model, in);
  cuda->to(torch::kCUDA);
  const auto x = torch::randn({4, 2, in.grid->size()});
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kLong);
  torch::optim::SGD sgd_cpu(cpu->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD sgd_cuda(cuda->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int step = 0; step < 2; ++step) {
    sgd_cpu.zero_grad();
    sgd_cuda.zero_grad();
    torch::nn::functional::cross_entropy(cpu->forward(x), y).backward();
    torch::nn::functional::cross_entropy(cuda->forward(x.cuda()), y.cuda()).backward();
    sgd_cpu.step();
    sgd_cuda.step();
  }
  const auto pc = cpu->parameters(), pg = cuda->parameters();
  for (size_t i = 0; i < pc.size(); ++i) {
    EXPECT_LT(relative_error(pg[i].detach().cpu(), pc[i].detach()), 1e-5) << "parameter " << i;
  }
  // A whole step (every layer's forward and backward, the optimiser) never waits for the host.
  const auto x_cuda = x.cuda();
  const auto y_cuda = y.cuda();
  EXPECT_NO_THROW(testing::run_without_host_sync([&] {
    sgd_cuda.zero_grad();
    torch::nn::functional::cross_entropy(cuda->forward(x_cuda), y_cuda).backward();
    sgd_cuda.step();
  }));
}

}  // namespace
}  // namespace sphaera::models
