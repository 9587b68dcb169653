// Uses torch:: types and Sphaera's API through the umbrella header only; prints the output shape.
#include <iostream>

#include <sphaera/sphaera.h>
#include <torch/torch.h>

int main() {
  auto grid = std::make_shared<sphaera::transforms::HealpixGrid>(4);
  sphaera::models::ModelInputs inputs;
  inputs.grid = grid;
  auto net = sphaera::models::build_network(
      nlohmann::json::parse(R"({"layers": [{"type": "deepsphere_classifier", "channels": [4], "K": 3}]})"), inputs);
  const torch::Tensor x = torch::randn({2, 1, grid->size()});
  const auto y = net->forward(x);
  std::cout << "logits " << y.size(0) << "x" << y.size(1) << "\n";
  return y.size(0) == 2 && y.size(1) == 2 ? 0 : 1;
}
