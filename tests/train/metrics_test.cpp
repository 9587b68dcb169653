#include "sphaera/train/metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace {

TEST(MetricsTest, PrecisionRecallF1FromAHandCountedExample) {
  // truth:     0 0 0 1 1 2
  // predicted: 0 1 0 1 2 2
  sphaera::train::ConfusionMatrix cm(3);
  const int truth[] = {0, 0, 0, 1, 1, 2};
  const int predicted[] = {0, 1, 0, 1, 2, 2};
  for (int i = 0; i < 6; ++i) cm.add(truth[i], predicted[i]);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(cm.precision(0), 1.0);
  EXPECT_DOUBLE_EQ(cm.recall(0), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.precision(1), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(1), 0.5);
  EXPECT_DOUBLE_EQ(cm.precision(2), 0.5);
  EXPECT_DOUBLE_EQ(cm.recall(2), 1.0);
  EXPECT_DOUBLE_EQ(cm.f1(2), 2 * 0.5 * 1.0 / 1.5);
  const auto j = cm.to_json({"a", "b", "c"});
  EXPECT_EQ(j["confusion"], nlohmann::json::parse("[[2,1,0],[0,1,1],[0,0,1]]"));
  EXPECT_EQ(j["samples"], 6);
}

TEST(MetricsTest, BatchesUseTheArgmaxOfTheLogits) {
  sphaera::train::ConfusionMatrix cm(2);
  auto logits = torch::tensor({{0.1, 0.9}, {2.0, -1.0}, {0.0, 3.0}});
  auto labels = torch::tensor({1, 1, 1}, torch::kLong);
  cm.add(logits, labels);
  EXPECT_EQ(cm.count(1, 1), 2);
  EXPECT_EQ(cm.count(1, 0), 1);
  EXPECT_THROW(cm.add(torch::zeros({2, 3}), torch::zeros({2}, torch::kLong)), sphaera::core::InvalidArgument);
}

}  // namespace
