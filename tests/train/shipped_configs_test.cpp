// Every config shipped in configs/ parses, validates and builds its network on its own grid (bench_*.yaml: its
// benchmark plan) (a typo or a
// renamed key in one of them fails here, not in a user's first run), and a batch goes through it to logits
// of one per class (on grids small enough to run here: up to 12·64² pixels a sample).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "sphaera/train/bench.h"
#include "sphaera/train/config.h"
#include "sphaera/train/experiment.h"
#include "sphaera/train/experiment_model.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fs::path(SPHAERA_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() == ".yaml") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ShippedConfigsTest, EveryConfigParsesBuildsAndRuns) {
  const auto configs = shipped_configs();
  ASSERT_GE(configs.size(), 4u) << "configs/ holds the quickstart and the cosmology experiments";
  for (const auto& path : configs) {
    SCOPED_TRACE(path.string());
    if (path.filename().string().rfind("bench_", 0) == 0) {  // `sphaera bench` configs: a plan, not an experiment
      auto config = sphaera::train::Config::load(path.string(), {});
      const auto plan = sphaera::train::read_bench_plan(config);
      EXPECT_FALSE(plan.layers.empty());
      continue;
    }
    auto exp = sphaera::train::parse_experiment(sphaera::train::Config::load(path.string(), {}));
    exp.device = "cpu";  // the test machine's
    const int64_t channels = exp.data.channels;
    const int64_t classes = static_cast<int64_t>(exp.data.classes.size());
    auto model = sphaera::train::build_experiment_model(std::move(exp));
    const int64_t pixels = model.grid->size();
    EXPECT_GT(model.net->parameters().size(), 0u);
    if (pixels > 12 * 64 * 64) continue;  // built (graphs, Laplacians, SHT plans) but too large to run here
    model.net->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor logits = model.net->forward(torch::randn({2, channels, pixels}));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, classes}));
    EXPECT_TRUE(logits.isfinite().all().item<bool>());
  }
}

}  // namespace
