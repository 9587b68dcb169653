#pragma once
/// Classification metrics from a confusion matrix: accuracy, per-class precision / recall / F1.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace sphaera::train {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  /// Adds a batch: `logits` [B, classes], `labels` [B] (int64).
  void add(const at::Tensor& logits, const at::Tensor& labels);
  /// Adds one (truth, prediction) pair.
  void add(int64_t truth, int64_t predicted);
  int64_t count(int64_t truth, int64_t predicted) const { return counts_[truth * classes_ + predicted]; }
  int64_t total() const;
  double accuracy() const;
  double precision(int64_t c) const;  ///< 0 when the class was never predicted
  double recall(int64_t c) const;     ///< 0 when the class never occurs
  double f1(int64_t c) const;
  /// {"accuracy": .., "precision": [..], "recall": [..], "f1": [..], "macro_f1": .., "confusion": [[..]],
  ///  "classes": [names]} (rows = truth, columns = prediction).
  nlohmann::json to_json(const std::vector<std::string>& class_names) const;

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;
};

}  // namespace sphaera::train
