// A whole training step of the shipped cosmology configs, in maps per second, and where its time goes by layer
// type:
//   BM_TrainStep/<config>         forward, cross-entropy, backward and an Adam step on a batch of the config's
//                                 batch_size random maps of its grid (items_per_second = maps per second)
//   BM_TrainStepByLayer/<config>  each layer of the same network alone, forward + backward on the input it gets
//                                 in the network (captured once), summed by layer type: counters <type>_ms per
//                                 step (cheb_conv, batch_norm, relu, healpix_pool, spectral_conv, ...), their
//                                 sum in layers_ms (each layer alone, with buffers of its own: the sum can
//                                 exceed BM_TrainStep's time, whose autograd frees and reuses memory as it goes)
// Configs: 0 = configs/cosmo_classification.yaml (DeepSphere's graph classifier on order-4 patches of nside 1024:
// 65,536 pixels a map, batch 16), 1 = configs/cosmo_spectral.yaml (spectral layers, full sky nside 32, batch 8).
// Threads: all cores (OMP_NUM_THREADS to change); freed memory kept for reuse, as `sphaera train` does.
//   ./build/bench/train_step_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <string>

#include <torch/torch.h>

#include "sphaera/core/runtime.h"
#include "sphaera/models/layers.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/experiment_model.h"

namespace {

using sphaera::train::ExperimentModel;

const char* const kConfigs[] = {"configs/cosmo_classification.yaml", "configs/cosmo_spectral.yaml"};

struct Case {
  ExperimentModel model;
  at::Tensor x, labels;
};

// The config's network on the CPU in float32 and a batch of random maps with random labels.
Case make_case(int64_t index) {
  static const bool once = [] {
    sphaera::core::set_num_threads(0);
    sphaera::core::keep_freed_memory();
    return true;
  }();
  (void)once;
  const std::string path = std::string(SPHAERA_SOURCE_DIR) + "/" + kConfigs[index];
  auto exp = sphaera::train::parse_experiment(sphaera::train::Config::load(path, {"device=cpu"}));
  Case c{sphaera::train::build_experiment_model(std::move(exp)), {}, {}};
  torch::manual_seed(0);
  const int64_t batch = c.model.exp.data.batch_size;
  c.x = torch::randn({batch, c.model.net->input_channels(), c.model.grid->size()});
  c.labels = torch::randint(static_cast<int64_t>(c.model.exp.data.classes.size()), {batch}, torch::kLong);
  c.model.net->train();
  return c;
}

void BM_TrainStep(benchmark::State& state) {
  Case c = make_case(state.range(0));
  torch::optim::Adam adam(c.model.net->parameters(), torch::optim::AdamOptions(1e-4));
  auto step = [&] {
    adam.zero_grad();
    torch::nn::functional::cross_entropy(c.model.net->forward(c.x), c.labels).backward();
    adam.step();
  };
  step();  // the first step builds the cached geometry (Laplacians, Legendre tables)
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * c.x.size(0));
  state.SetLabel(kConfigs[state.range(0)]);
}

// Layer i of the network alone on input `in`, as the network calls it.
at::Tensor run_layer(sphaera::models::NetworkLayer& layer, const at::Tensor& in) {
  if (layer.type == "healpix_pool") return layer.module.get<sphaera::models::HealpixPool>()->forward_with_indices(in).values;
  return layer.module.forward(in);
}

void BM_TrainStepByLayer(benchmark::State& state) {
  Case c = make_case(state.range(0));
  std::vector<sphaera::models::NetworkLayer> layers = c.model.net->layers();  // AnyModule copies share the modules
  std::vector<at::Tensor> inputs{c.x}, grads;
  c.model.net->forward_observed(c.x, [&](size_t, const at::Tensor& y) { inputs.push_back(y.detach()); });
  for (size_t i = 0; i < layers.size(); ++i) grads.push_back(torch::randn_like(inputs[i + 1]));
  std::map<std::string, double> seconds;
  for (auto _ : state) {
    for (size_t i = 0; i < layers.size(); ++i) {
      // As in the step: the network's input needs no gradient, every later layer's input does.
      const at::Tensor in = inputs[i].clone().requires_grad_(i > 0);
      const auto start = std::chrono::steady_clock::now();
      const at::Tensor out = run_layer(layers[i], in);
      if (out.requires_grad()) out.backward(grads[i]);
      seconds[layers[i].type] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  double total = 0.0;
  for (const auto& [type, s] : seconds) {
    state.counters[type + "_ms"] = 1e3 * s / static_cast<double>(state.iterations());
    total += s;
  }
  state.counters["layers_ms"] = 1e3 * total / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * c.x.size(0));
  state.SetLabel(kConfigs[state.range(0)]);
}

BENCHMARK(BM_TrainStep)->DenseRange(0, 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStepByLayer)->DenseRange(0, 1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
