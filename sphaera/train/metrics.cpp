#include "sphaera/train/metrics.h"

#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace sphaera::train {

ConfusionMatrix::ConfusionMatrix(int64_t classes) : classes_(classes), counts_(classes * classes, 0) {
  SPHAERA_CHECK(classes >= 1, "ConfusionMatrix: need at least one class, got ", classes);
}

void ConfusionMatrix::add(int64_t truth, int64_t predicted) {
  SPHAERA_CHECK(truth >= 0 && truth < classes_ && predicted >= 0 && predicted < classes_,
                "ConfusionMatrix: class out of range [0, ", classes_, "): truth ", truth, ", predicted ", predicted);
  ++counts_[truth * classes_ + predicted];
}

void ConfusionMatrix::add(const at::Tensor& logits, const at::Tensor& labels) {
  SPHAERA_CHECK(logits.dim() == 2 && logits.size(1) == classes_ && labels.dim() == 1 &&
                    labels.size(0) == logits.size(0),
                "ConfusionMatrix: expected logits [B, ", classes_, "] and labels [B], got ", logits.sizes(), " and ",
                labels.sizes());
  const auto predicted = logits.argmax(1).cpu();
  const auto truth = labels.to(torch::kCPU, torch::kLong);
  const int64_t* p = predicted.data_ptr<int64_t>();
  const int64_t* t = truth.data_ptr<int64_t>();
  for (int64_t i = 0; i < truth.numel(); ++i) add(t[i], p[i]);
}

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (auto c : counts_) n += c;
  return n;
}

double ConfusionMatrix::accuracy() const {
  int64_t right = 0;
  for (int64_t c = 0; c < classes_; ++c) right += count(c, c);
  const int64_t n = total();
  return n == 0 ? 0.0 : static_cast<double>(right) / n;
}

double ConfusionMatrix::precision(int64_t c) const {
  int64_t predicted = 0;
  for (int64_t t = 0; t < classes_; ++t) predicted += count(t, c);
  return predicted == 0 ? 0.0 : static_cast<double>(count(c, c)) / predicted;
}

double ConfusionMatrix::recall(int64_t c) const {
  int64_t actual = 0;
  for (int64_t p = 0; p < classes_; ++p) actual += count(c, p);
  return actual == 0 ? 0.0 : static_cast<double>(count(c, c)) / actual;
}

double ConfusionMatrix::f1(int64_t c) const {
  const double p = precision(c);
  const double r = recall(c);
  return p + r == 0 ? 0.0 : 2 * p * r / (p + r);
}

nlohmann::json ConfusionMatrix::to_json(const std::vector<std::string>& class_names) const {
  nlohmann::json out;
  out["accuracy"] = accuracy();
  out["samples"] = total();
  nlohmann::json precision_list = nlohmann::json::array(), recall_list = nlohmann::json::array(),
                 f1_list = nlohmann::json::array(), confusion = nlohmann::json::array();
  double macro = 0;
  for (int64_t c = 0; c < classes_; ++c) {
    precision_list.push_back(precision(c));
    recall_list.push_back(recall(c));
    f1_list.push_back(f1(c));
    macro += f1(c);
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < classes_; ++p) row.push_back(count(c, p));
    confusion.push_back(row);
  }
  out["precision"] = precision_list;
  out["recall"] = recall_list;
  out["f1"] = f1_list;
  out["macro_f1"] = macro / classes_;
  out["confusion"] = confusion;
  out["classes"] = class_names;
  return out;
}

}  // namespace sphaera::train
