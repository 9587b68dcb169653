// Tests of the layer registry and of networks built from model sections.
#include "sphaera/models/registry.h"

#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/layers.h"
#include "sphaera/transforms/healpix_grid.h"
#include "tests/support/npy.h"

using nlohmann::json;
using namespace sphaera::models;
using sphaera::transforms::HealpixGrid;

namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(3); }

  static ModelInputs inputs(sphaera::transforms::GridPtr grid, int64_t channels = 2, int64_t classes = 3) {
    ModelInputs in;
    in.grid = std::move(grid);
    in.in_channels = channels;
    in.num_classes = classes;
    return in;
  }
  static ModelInputs full_sky(int64_t nside, int64_t channels = 2, int64_t classes = 3) {
    return inputs(std::make_shared<HealpixGrid>(nside), channels, classes);
  }

  // The message of the InvalidArgument that building throws ("" if none).
  static std::string error_of(const json& model, const ModelInputs& in) {
    try {
      build_network(model, in);
    } catch (const sphaera::core::InvalidArgument& e) {
      return e.what();
    }
    return "";
  }
  static std::string error_of_layers(const json& layers, int64_t nside = 4) {
    return error_of(json{{"layers", layers}}, full_sky(nside));
  }
};

std::vector<std::string> types_of(const Network& net) {
  std::vector<std::string> out;
  for (const auto& layer : net->layers()) out.push_back(layer.type);
  return out;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// ---- registry ------------------------------------------------------------------------------------------------------

TEST_F(RegistryTest, ListsEveryTypeSorted) {
  const auto types = registered_layer_types();
  for (const char* name :
       {"cheb_conv", "batch_norm", "relu", "leaky_relu", "elu", "gelu", "tanh", "dropout", "healpix_pool",
        "healpix_unpool", "global_avg_pool", "flatten", "linear", "deepsphere_classifier"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), name), types.end()) << name;
  }
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  LayerRegistry registry;
  register_builtin_layers(registry);
  EXPECT_EQ(registry.types(), types);
  EXPECT_THROW(registry.add("relu", [](const json&, LayerContext&) {}), sphaera::core::InvalidArgument);
}

TEST_F(RegistryTest, UnknownTypeListsAllKnownNames) {
  const auto message = error_of_layers(json::array({{{"type", "relu"}}, {{"type", "chebconv"}, {"out", 4}}}));
  EXPECT_TRUE(starts_with(message, "model.layers[1].type: unknown layer type \"chebconv\" (known: ")) << message;
  for (const auto& name : registered_layer_types()) EXPECT_NE(message.find(name), std::string::npos) << name;
  EXPECT_TRUE(starts_with(error_of_layers(json::array({{{"out", 4}}})), "model.layers[0].type: required"));
  EXPECT_TRUE(starts_with(error_of_layers(json::array({{{"type", 3}}})), "model.layers[0].type: expected"));
}

TEST_F(RegistryTest, BadOptionValuesNameTheirPath) {
  const json conv = {{"type", "cheb_conv"}, {"out", 4}};
  auto with = [&](json layer) { return json::array({conv, {{"type", "relu"}}, layer}); };
  EXPECT_EQ(error_of_layers(with({{"type", "cheb_conv"}, {"out", 4}, {"K", -3}})),
            "model.layers[2].K: expected an integer ≥ 1, got -3");
  EXPECT_EQ(error_of_layers(with({{"type", "cheb_conv"}, {"out", 4}, {"K", "5"}})),
            "model.layers[2].K: expected an integer ≥ 1, got \"5\"");
  EXPECT_EQ(error_of_layers(with({{"type", "cheb_conv"}, {"out", 4}, {"K", 2.5}})),
            "model.layers[2].K: expected an integer ≥ 1, got 2.5");
  EXPECT_EQ(error_of_layers(with({{"type", "cheb_conv"}})), "model.layers[2].out: required (an integer ≥ 1)");
  EXPECT_EQ(error_of_layers(with({{"type", "cheb_conv"}, {"out", 4}, {"bias", 1}})),
            "model.layers[2].bias: expected true or false, got 1");
  EXPECT_EQ(error_of_layers(with({{"type", "healpix_pool"}, {"mode", "avg"}})),
            "model.layers[2].mode: expected one of \"max\", \"mean\", got \"avg\"");
  EXPECT_EQ(error_of_layers(with({{"type", "dropout"}, {"p", 1.0}})),
            "model.layers[2].p: expected a number in [0, 1), got 1.0");
  EXPECT_EQ(error_of_layers(with({{"type", "batch_norm"}, {"momentum", -0.1}})),
            "model.layers[2].momentum: expected a number in [0, 1], got -0.1");
}

TEST_F(RegistryTest, UnknownOptionKeysNameTheirPath) {
  EXPECT_EQ(error_of_layers(json::array({{{"type", "cheb_conv"}, {"out", 4}, {"k", 3}}})),
            "model.layers[0].k: unknown option of cheb_conv (known: type, out, K, bias)");
  EXPECT_EQ(error_of_layers(json::array({{{"type", "relu"}, {"inplace", true}}})),
            "model.layers[0].inplace: unknown option of relu (known: type)");
  EXPECT_EQ(error_of(json{{"layers", json::array({{{"type", "relu"}}})}, {"optimizer", "adam"}}, full_sky(2)),
            "model.optimizer: unknown key (known: graph, layers, spectral)");
  EXPECT_EQ(error_of(json{{"layers", json::array()}}, full_sky(2)),
            "model.layers: expected a non-empty list of layers, got []");
  EXPECT_TRUE(starts_with(error_of(json::object(), full_sky(2)), "model.layers: required"));
  EXPECT_TRUE(starts_with(error_of(json::array(), full_sky(2)), "model: expected a mapping"));
}

TEST_F(RegistryTest, GraphSectionIsValidated) {
  const json layers = json::array({{{"type", "relu"}}});
  auto graph_error = [&](json graph) { return error_of(json{{"graph", graph}, {"layers", layers}}, full_sky(2)); };
  EXPECT_EQ(graph_error({{"construction", "v3"}}),
            "model.graph.construction: expected one of \"v1\", \"v2\", got \"v3\"");
  EXPECT_TRUE(starts_with(graph_error({{"k", 10}}), "model.graph.k: expected 8, 20, 40 or 60"))
      << graph_error({{"k", 10}});
  EXPECT_EQ(graph_error({{"k", 0}}), "model.graph.k: expected an integer in [1, 1000000], got 0");
  EXPECT_TRUE(starts_with(graph_error({{"construction", "v1"}, {"k", 20}}), "model.graph.k: construction v1"));
  EXPECT_EQ(graph_error({{"laplacian", "random_walk"}}),
            "model.graph.laplacian: expected one of \"combinatorial\", \"normalized\", got \"random_walk\"");
  EXPECT_EQ(graph_error({{"neighbours", 8}}),
            "model.graph.neighbours: unknown option of graph (known: type, construction, k, laplacian, kernel_width)");
  EXPECT_EQ(graph_error(json::object()), "");  // all defaults

  const auto defaults = parse_graph_options(json::object(), "model.graph");
  EXPECT_EQ(defaults.construction, sphaera::transforms::GraphConstruction::kV2);
  EXPECT_EQ(defaults.k, 8);
  EXPECT_FALSE(defaults.laplacian.has_value());
  const auto v1 = parse_graph_options({{"construction", "v1"}, {"laplacian", "normalized"}}, "model.graph");
  EXPECT_EQ(v1.construction, sphaera::transforms::GraphConstruction::kV1);
  EXPECT_EQ(v1.laplacian, sphaera::transforms::LaplacianKind::kNormalized);
  const auto wide = parse_graph_options({{"k", 12}, {"kernel_width", 0.05}}, "model.graph");
  EXPECT_EQ(wide.k, 12);
  EXPECT_EQ(wide.kernel_width, 0.05);
}

TEST_F(RegistryTest, GraphLayerAfterGlobalPoolingIsAnError) {
  const auto message = error_of_layers(json::array(
      {{{"type", "cheb_conv"}, {"out", 4}}, {{"type", "global_avg_pool"}}, {{"type", "cheb_conv"}, {"out", 4}}}));
  EXPECT_TRUE(starts_with(message,
                          "model.layers[2]: cheb_conv needs a map [B, C, V] on a grid, but its input is a "
                          "vector [B, 4]"))
      << message;
  EXPECT_TRUE(starts_with(error_of_layers(json::array({{{"type", "flatten"}}, {{"type", "healpix_pool"}}})),
                          "model.layers[1]: healpix_pool needs a map"));
  EXPECT_TRUE(starts_with(error_of_layers(json::array({{{"type", "linear"}, {"out", 2}}})),
                          "model.layers[0]: linear needs a vector [B, F], but its input is a map [B, 2, 192]"));
}

TEST_F(RegistryTest, PoolingBeyondTheGridIsAnError) {
  const auto message = error_of_layers(json::array({{{"type", "healpix_pool"}}, {{"type", "healpix_pool"}}}), 2);
  EXPECT_TRUE(starts_with(message, "model.layers[1]: healpix_pool cannot coarsen")) << message;
  const auto classifier = error_of(
      json{{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {4, 4, 4}}}})}}, full_sky(4));
  EXPECT_TRUE(starts_with(classifier, "model.layers[0].channels: 3 poolings need nside ≥ 8")) << classifier;
  const auto with_pools = error_of(
      json{{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {4, 4, 4}}, {"pools", 3}}})}},
      full_sky(4));
  EXPECT_TRUE(starts_with(with_pools, "model.layers[0].pools: 3 poolings need nside ≥ 8")) << with_pools;
}

TEST_F(RegistryTest, UnpoolingByIndicesNeedsAMatchingMaxPooling) {
  EXPECT_TRUE(
      starts_with(error_of_layers(json::array({{{"type", "healpix_unpool"}, {"mode", "indices"}}})),
                  "model.layers[0].mode: \"indices\" needs an earlier healpix_pool with mode \"max\" not yet closed"));
  EXPECT_TRUE(
      starts_with(error_of_layers(json::array({{{"type", "healpix_pool"}, {"mode", "mean"}},
                                               {{"type", "healpix_unpool"}, {"mode", "indices"}}})),
                  "model.layers[1].mode: \"indices\" closes the pooling at model.layers[0], whose mode is \"mean\""));
  const auto channels = error_of_layers(json::array({{{"type", "healpix_pool"}},
                                                     {{"type", "cheb_conv"}, {"out", 5}, {"K", 1}},
                                                     {{"type", "healpix_unpool"}, {"mode", "indices"}}}));
  EXPECT_TRUE(starts_with(channels,
                          "model.layers[2].mode: \"indices\" closes the max pooling at model.layers[0], "
                          "which had 2 channels, but this input has 5"))
      << channels;
}

TEST_F(RegistryTest, DeepsphereClassifierOptionsAreValidated) {
  auto error = [&](json options) {
    options["type"] = "deepsphere_classifier";
    return error_of(json{{"layers", json::array({options})}}, full_sky(16));
  };
  EXPECT_EQ(error({{"channels", {8, 0}}}), "model.layers[0].channels[1]: expected an integer ≥ 1, got 0");
  EXPECT_EQ(error({{"channels", json::array()}}),
            "model.layers[0].channels: expected a non-empty list of integers ≥ 1, got []");
  EXPECT_EQ(error({{"K", 5}}), "model.layers[0].channels: required (a non-empty list of integers ≥ 1)");
  EXPECT_EQ(error({{"channels", {8}}, {"variant", "resnet"}}),
            "model.layers[0].variant: expected one of \"fcn\", \"cnn\", got \"resnet\"");
  EXPECT_EQ(error({{"channels", {8}}, {"pools", 2}}), "model.layers[0].pools: expected an integer in [0, 1], got 2");
  EXPECT_TRUE(
      starts_with(error({{"channels", {8}}, {"head", "gap"}}), "model.layers[0].head: only for variant \"cnn\""));
  EXPECT_TRUE(starts_with(error({{"channels", {8}}, {"dropout", 0.5}}),
                          "model.layers[0].dropout: unknown option of deepsphere_classifier (known: type, channels, K, "
                          "pool, pools, batch_norm, variant, head)"));
}

// ---- networks ------------------------------------------------------------------------------------------------------

TEST_F(RegistryTest, DeepsphereClassifierFcnShapesThroughPoolings) {
  const json model = {
      {"graph", {{"construction", "v2"}, {"k", 8}}},
      {"layers",
       json::array({{{"type", "deepsphere_classifier"}, {"channels", {8, 16, 32}}, {"K", 3}, {"variant", "fcn"}}})}};
  auto net = build_network(model, full_sky(16, 2, 3));
  EXPECT_EQ(types_of(net), (std::vector<std::string>{"cheb_conv", "batch_norm", "relu", "healpix_pool",  //
                                                     "cheb_conv", "batch_norm", "relu", "healpix_pool",  //
                                                     "cheb_conv", "batch_norm", "relu", "healpix_pool",  //
                                                     "cheb_conv", "global_avg_pool"}));
  const std::vector<int64_t> nsides = {16, 16, 16, 8, 8, 8, 8, 4, 4, 4, 4, 2, 2};
  const std::vector<int64_t> channels = {8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 3};
  for (size_t i = 0; i < nsides.size(); ++i) {
    const auto grid = std::dynamic_pointer_cast<const HealpixGrid>(net->layers()[i].grid);
    ASSERT_NE(grid, nullptr) << i;
    EXPECT_EQ(grid->nside(), nsides[i]) << i;
    EXPECT_EQ(net->layers()[i].channels, channels[i]) << i;
    EXPECT_EQ(net->layers()[i].where, "model.layers[0]");
  }
  EXPECT_EQ(net->output_grid(), nullptr);
  EXPECT_EQ(net->output_channels(), 3);
  // Hidden cheb_convs have no bias (the batch norm's shift is the bias), the last one (linear) has one.
  EXPECT_FALSE(net->layers()[0].module.get<ChebConv>()->options.bias());
  EXPECT_TRUE(net->layers()[12].module.get<ChebConv>()->options.bias());
  EXPECT_EQ(net->layers()[12].module.get<ChebConv>()->options.kernel_size(), 3);

  auto x = torch::randn({4, 2, 12 * 16 * 16});
  auto y = net->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 3}));
  y.pow(2).sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
  const auto summary = net->summary();
  EXPECT_NE(summary.find("cheb_conv"), std::string::npos);
  EXPECT_NE(summary.find("[B, 3]"), std::string::npos);
  EXPECT_NE(summary.find(std::to_string(net->parameter_count()) + " parameters"), std::string::npos);
  EXPECT_EQ(std::count(summary.begin(), summary.end(), '\n'), 16);  // input line + 14 layers + total
}

TEST_F(RegistryTest, DeepsphereClassifierCnnHeads) {
  auto grid = std::make_shared<HealpixGrid>(8);
  const json flatten = {{"layers", json::array({{{"type", "deepsphere_classifier"},
                                                 {"channels", {4, 6}},
                                                 {"variant", "cnn"},
                                                 {"pool", "mean"},
                                                 {"K", 2}}})}};
  auto net = build_network(flatten, inputs(grid, 1, 5));
  EXPECT_EQ(types_of(net), (std::vector<std::string>{"cheb_conv", "batch_norm", "relu", "healpix_pool", "cheb_conv",
                                                     "batch_norm", "relu", "healpix_pool", "flatten", "linear"}));
  EXPECT_EQ(net->layers()[8].channels, 6 * 12 * 2 * 2);  // 6 channels × 48 pixels at nside 2
  EXPECT_EQ(net->layers()[3].module.get<HealpixPool>()->options.mode(), PoolMode::kMean);
  EXPECT_EQ(net->forward(torch::randn({2, 1, 768})).sizes(), (std::vector<int64_t>{2, 5}));

  const json gap = {{"layers", json::array({{{"type", "deepsphere_classifier"},
                                             {"channels", {4, 6}},
                                             {"variant", "cnn"},
                                             {"head", "gap"},
                                             {"pools", 1},
                                             {"batch_norm", false}}})}};
  auto net2 = build_network(gap, inputs(grid, 1, 5));
  EXPECT_EQ(types_of(net2), (std::vector<std::string>{"cheb_conv", "relu", "healpix_pool", "cheb_conv", "relu",
                                                      "global_avg_pool", "linear"}));
  EXPECT_TRUE(net2->layers()[0].module.get<ChebConv>()->options.bias());
  EXPECT_EQ(net2->forward(torch::randn({2, 1, 768})).sizes(), (std::vector<int64_t>{2, 5}));
}

TEST_F(RegistryTest, DeepsphereClassifierOnPatches) {
  // As the trainer's tests: nside 8 cut into order-1 patches of 64 pixels, two poolings.
  auto patch = HealpixGrid::patch(8, 1, 0);
  const json model = {
      {"graph", {{"construction", "v2"}, {"k", 8}}},
      {"layers",
       json::array({{{"type", "deepsphere_classifier"}, {"variant", "fcn"}, {"channels", {4, 4}}, {"K", 3}}})}};
  auto net = build_network(model, inputs(patch, 1, 2));
  const auto last = std::dynamic_pointer_cast<const HealpixGrid>(net->layers()[net->layers().size() - 2].grid);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->nside(), 2);
  EXPECT_EQ(last->size(), 4);
  auto y = net->forward(torch::randn({3, 1, 64}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 2}));
  // Three poolings reach one pixel per patch (nside 1)...
  const json deep = {{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {2, 2, 2}}}})}};
  EXPECT_EQ(build_network(deep, inputs(patch, 1, 2))->forward(torch::randn({1, 1, 64})).sizes(),
            (std::vector<int64_t>{1, 2}));
  // ... while on order-2 patches of nside 16 the fourth pooling would need the 3 other children of the patch's
  // parent: the grid refuses, and the error names the layer.
  const json deeper = {{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {2, 2, 2, 2}}}})}};
  const auto message = error_of(deeper, inputs(HealpixGrid::patch(16, 2, 0), 1, 2));
  EXPECT_TRUE(starts_with(message, "model.layers[0]: ")) << message;
}

TEST_F(RegistryTest, KEqualOneWorksInANetwork) {
  const json model = {{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {3}}, {"K", 1}}})}};
  auto net = build_network(model, full_sky(2, 2, 2));
  EXPECT_EQ(net->forward(torch::randn({2, 2, 48})).sizes(), (std::vector<int64_t>{2, 2}));
}

TEST_F(RegistryTest, ForwardBackwardInFloat32AndFloat64) {
  const json model = {{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {4, 8}}, {"K", 4}}})}};
  auto net = build_network(model, full_sky(4, 1, 2));
  net->eval();  // batch norm with running statistics: the same function in both dtypes
  auto x = torch::randn({3, 1, 192}, torch::kDouble);
  auto y32 = net->forward(x.to(torch::kFloat));
  EXPECT_EQ(y32.scalar_type(), torch::kFloat);
  net->to(torch::kDouble);
  auto y64 = net->forward(x);
  EXPECT_EQ(y64.scalar_type(), torch::kDouble);
  EXPECT_LT(sphaera::testing::relative_error(y32, y64), 1e-5);
  net->train();
  net->forward(x).sum().backward();
  for (const auto& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kDouble);
  }
}

TEST_F(RegistryTest, LayersOnOneGridShareTheirLaplacian) {
  const json model = {{"layers", json::array({{{"type", "cheb_conv"}, {"out", 3}, {"K", 3}},
                                              {{"type", "relu"}},
                                              {{"type", "cheb_conv"}, {"out", 3}, {"K", 2}}})}};
  auto net = build_network(model, full_sky(4));
  auto a = net->layers()[0].module.get<ChebConv>()->laplacian(torch::kFloat, torch::kCPU);
  auto b = net->layers()[2].module.get<ChebConv>()->laplacian(torch::kFloat, torch::kCPU);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->rows(), 192);
  EXPECT_EQ(net->output_grid()->key(), net->input_grid()->key());
  EXPECT_EQ(net->forward(torch::randn({1, 2, 192})).sizes(), (std::vector<int64_t>{1, 3, 192}));
}

TEST_F(RegistryTest, GraphSectionChoosesTheLaplacian) {
  const json layers = json::array({{{"type", "cheb_conv"}, {"out", 2}, {"K", 3}}});
  auto patch = HealpixGrid::patch(16, 2, 1);
  auto laplacian_of = [&](const json& graph) {
    auto net = build_network(json{{"graph", graph}, {"layers", layers}}, inputs(patch, 1, 2));
    EXPECT_EQ(net->forward(torch::randn({2, 1, 64})).sizes(), (std::vector<int64_t>{2, 2, 64}));
    return net->layers()[0].module.get<ChebConv>()->laplacian(torch::kFloat, torch::kCPU);
  };
  const auto v1 = laplacian_of({{"construction", "v1"}});
  const auto v2 = laplacian_of({{"construction", "v2"}, {"k", 20}});
  EXPECT_LE(v1->nnz(), 9 * 64);  // 8 HEALPix neighbours (fewer at the patch border) and the diagonal
  EXPECT_GE(v2->nnz(), 21 * 64);  // at least 20 neighbours per pixel and the diagonal
  EXPECT_EQ(laplacian_of(json::object()).get(), laplacian_of({{"construction", "v2"}, {"k", 8}}).get());
}

TEST_F(RegistryTest, EncoderDecoderWithUnpooling) {
  const json model = {{"graph", {{"construction", "v2"}, {"k", 8}}},
                      {"layers", json::array({{{"type", "cheb_conv"}, {"out", 4}, {"K", 2}},
                                              {{"type", "healpix_pool"}, {"mode", "max"}},
                                              {{"type", "cheb_conv"}, {"out", 6}, {"K", 2}},
                                              {{"type", "healpix_pool"}, {"mode", "max"}},
                                              {{"type", "healpix_unpool"}, {"mode", "nearest"}},
                                              {{"type", "cheb_conv"}, {"out", 4}, {"K", 2}},
                                              {{"type", "healpix_unpool"}, {"mode", "indices"}},
                                              {{"type", "cheb_conv"}, {"out", 1}, {"K", 2}}})}};
  auto grid = std::make_shared<HealpixGrid>(4);
  auto net = build_network(model, inputs(grid, 2, 2));
  EXPECT_EQ(net->output_grid()->key(), grid->key());
  auto x = torch::randn({2, 2, 192});
  auto y = net->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 1, 192}));
  y.sum().backward();

  // Unpooling by indices inside a network is max_unpool of the matching max pooling.
  const json pair = {{"layers", json::array({{{"type", "healpix_pool"}},
                                             {{"type", "healpix_pool"}, {"mode", "mean"}},
                                             {{"type", "healpix_unpool"}},
                                             {{"type", "healpix_unpool"}, {"mode", "indices"}}})}};
  auto unet = build_network(pair, inputs(grid, 2, 2));
  auto pooled = healpix_pool(x, PoolMode::kMax);
  auto expected = healpix_unpool(healpix_unpool(healpix_pool(pooled.values, PoolMode::kMean).values), pooled.indices);
  EXPECT_TRUE(torch::equal(unet->forward(x), expected));
}

TEST_F(RegistryTest, NetworkChecksItsInput) {
  auto net = build_network(json{{"layers", json::array({{{"type", "global_avg_pool"}}})}}, full_sky(2, 3, 2));
  try {
    net->forward(torch::randn({2, 3, 47}));
    FAIL() << "no error";
  } catch (const sphaera::core::InvalidArgument& e) {
    EXPECT_TRUE(starts_with(e.what(), "Network: input must be [B, 3, 48]")) << e.what();
  }
  EXPECT_THROW(build_network(json{{"layers", json::array({{{"type", "relu"}}})}}, ModelInputs{}),
               sphaera::core::InvalidArgument);
}

TEST_F(RegistryTest, SaveLoadIntoAFreshlyBuiltNetworkGivesIdenticalOutput) {
  const json model = {
      {"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {4, 8}}, {"K", 3}, {"variant", "cnn"}},
                              {{"type", "dropout"}, {"p", 0.2}}})}};
  auto in = full_sky(4, 1, 2);
  auto net = build_network(model, in);
  // Train a little so that parameters and batch-norm statistics leave their initial values.
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(0.01));
  net->train();
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    net->forward(torch::randn({4, 1, 192})).pow(2).mean().backward();
    optimizer.step();
  }
  std::stringstream stream;
  torch::save(net, stream);

  torch::manual_seed(1234);
  auto fresh = build_network(model, in);
  auto x = torch::randn({3, 1, 192});
  net->eval();
  fresh->eval();
  EXPECT_FALSE(torch::equal(fresh->forward(x), net->forward(x)));
  torch::load(fresh, stream);
  EXPECT_TRUE(torch::equal(fresh->forward(x), net->forward(x)));

  // The state holds parameters and batch-norm statistics under stable names, and no geometry.
  const auto keys = fresh->named_parameters().keys();
  EXPECT_NE(std::find(keys.begin(), keys.end(), "0_cheb_conv.weight"), keys.end());
  const auto buffers = fresh->named_buffers().keys();
  EXPECT_NE(std::find(buffers.begin(), buffers.end(), "1_batch_norm.bn.running_mean"), buffers.end());
  EXPECT_EQ(buffers.size(), 2u * 3u);  // running_mean, running_var, num_batches_tracked per batch norm
}

TEST_F(RegistryTest, RunsOnCudaWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const json model = {{"layers", json::array({{{"type", "deepsphere_classifier"}, {"channels", {4}}, {"K", 3}}})}};
  auto net = build_network(model, full_sky(4, 1, 2));
  net->eval();
  auto x = torch::randn({2, 1, 192});
  auto cpu = net->forward(x);
  net->to(torch::kCUDA);
  EXPECT_LT(sphaera::testing::relative_error(net->forward(x.cuda()).cpu(), cpu), 1e-5);
}

}  // namespace
