#include "sphaera/models/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/models/cheb_conv.h"
#include "sphaera/models/spectral_conv.h"
#include "sphaera/models/layers.h"
#include "sphaera/transforms/healpix_grid.h"

namespace sphaera::models {

using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out;
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::vector<std::string> q;
  for (const auto& s : items) q.push_back("\"" + s + "\"");
  return join(q);
}

// Reads one options mapping strictly: values must have the right type and range, and every key present must have
// been asked for (finish() rejects the others). Messages name the key's path: "<where>.<key>: ...".
class OptionReader {
 public:
  OptionReader(const json& object, std::string where, std::string owner)
      : object_(object), where_(std::move(where)), owner_(std::move(owner)) {
    SPHAERA_CHECK(object_.is_object(), where_, ": expected a mapping of ", owner_, " options, got ", object_.dump());
    known_.push_back("type");
  }

  std::string path(const std::string& key) const { return where_ + "." + key; }

  bool has(const std::string& key) {
    remember(key);
    return object_.contains(key);
  }

  int64_t integer(const std::string& key, std::optional<int64_t> fallback, int64_t min,
                  int64_t max = std::numeric_limits<int64_t>::max()) {
    const std::string expected = max == std::numeric_limits<int64_t>::max()
                                     ? "an integer ≥ " + std::to_string(min)
                                     : "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    if (!has(key)) {
      SPHAERA_CHECK(fallback.has_value(), path(key), ": required (", expected, ")");
      return *fallback;
    }
    return integer_value(object_.at(key), path(key), expected, min, max);
  }

  /// `valid` decides; `expected` says what is accepted ("a number > 0").
  double number(const std::string& key, double fallback, bool (*valid)(double), const std::string& expected) {
    if (!has(key)) return fallback;
    const json& v = object_.at(key);
    SPHAERA_CHECK(v.is_number() && valid(v.get<double>()), path(key), ": expected ", expected, ", got ", v.dump());
    return v.get<double>();
  }

  bool boolean(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    const json& v = object_.at(key);
    SPHAERA_CHECK(v.is_boolean(), path(key), ": expected true or false, got ", v.dump());
    return v.get<bool>();
  }

  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) {
    if (!has(key)) return fallback;
    const json& v = object_.at(key);
    const bool ok = v.is_string() && std::find(allowed.begin(), allowed.end(), v.get<std::string>()) != allowed.end();
    SPHAERA_CHECK(ok, path(key), ": expected one of ", quoted_list(allowed), ", got ", v.dump());
    return v.get<std::string>();
  }

  /// A required, non-empty list of integers ≥ min.
  std::vector<int64_t> integer_list(const std::string& key, int64_t min) {
    const std::string element = "an integer ≥ " + std::to_string(min);
    SPHAERA_CHECK(has(key), path(key), ": required (a non-empty list of integers ≥ ", min, ")");
    const json& v = object_.at(key);
    SPHAERA_CHECK(v.is_array() && !v.empty(), path(key), ": expected a non-empty list of integers ≥ ", min, ", got ",
                  v.dump());
    std::vector<int64_t> out;
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(integer_value(v[i], path(key) + "[" + std::to_string(i) + "]", element, min,
                                  std::numeric_limits<int64_t>::max()));
    }
    return out;
  }

  /// Rejects keys nobody asked for.
  void finish() const {
    for (const auto& item : object_.items()) {
      SPHAERA_CHECK(std::find(known_.begin(), known_.end(), item.key()) != known_.end(), path(item.key()),
                    ": unknown option of ", owner_, " (known: ", join(known_), ")");
    }
  }

 private:
  static int64_t integer_value(const json& v, const std::string& where, const std::string& expected, int64_t min,
                               int64_t max) {
    bool ok =
        v.is_number_integer() &&
        !(v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
    const int64_t value = ok ? v.get<int64_t>() : 0;
    ok = ok && value >= min && value <= max;
    SPHAERA_CHECK(ok, where, ": expected ", expected, ", got ", v.dump());
    return value;
  }

  void remember(const std::string& key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  }

  const json& object_;
  std::string where_;
  std::string owner_;
  std::vector<std::string> known_;
};

bool positive(double x) { return x > 0; }
bool unit_closed(double x) { return x >= 0 && x <= 1; }
bool unit_half_open(double x) { return x >= 0 && x < 1; }
bool finite(double x) { return std::isfinite(x); }

// Runs f; InvalidArgument from below (grids, graphs) is rethrown prefixed with the config path.
template <typename F>
auto at_path(const std::string& where, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const core::InvalidArgument& e) {
    throw core::InvalidArgument(where + ": " + e.what());
  }
}

std::string describe_input(const LayerContext& c) {
  std::ostringstream out;
  if (c.grid) {
    out << "a map [B, " << c.channels << ", " << c.grid->size() << "] on " << c.grid->key();
  } else {
    out << "a vector [B, " << c.channels << "]";
  }
  return out.str();
}

void require_map(const LayerContext& c, const std::string& type) {
  SPHAERA_CHECK(c.grid != nullptr, c.where, ": ", type, " needs a map [B, C, V] on a grid, but its input is ",
                describe_input(c), " (a graph or pixel layer cannot follow global_avg_pool, flatten or linear)");
}

std::shared_ptr<const transforms::HealpixGrid> require_healpix(const LayerContext& c, const std::string& type) {
  require_map(c, type);
  auto healpix = std::dynamic_pointer_cast<const transforms::HealpixGrid>(c.grid);
  SPHAERA_CHECK(healpix != nullptr, c.where, ": ", type, " needs a HEALPix grid (NEST), but its input is on ",
                c.grid->key());
  return healpix;
}

// ---- builders ----------------------------------------------------------------------------------------------------

void build_cheb_conv(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "cheb_conv");
  const int64_t out = r.integer("out", std::nullopt, 1);
  const int64_t k = r.integer("K", 5, 1);
  const bool bias = r.boolean("bias", true);
  r.finish();
  require_map(c, "cheb_conv");
  const transforms::GridPtr grid = c.grid;
  const transforms::GraphOptions graph = c.graph;
  LaplacianProvider provider = [grid, graph](c10::ScalarType dtype, c10::Device device) {
    return transforms::cached_rescaled_laplacian(grid, graph, dtype, device);
  };
  if (k > 1) {
    // Build (and cache) the Laplacian now, so that a graph that cannot be built fails here, naming this layer.
    at_path(c.where, [&] { return provider(c10::typeMetaToScalarType(torch::get_default_dtype()), c10::kCPU); });
  }
  ChebConv conv(ChebConvOptions(c.channels, out, k).bias(bias), std::move(provider));
  c.channels = out;
  c.add("cheb_conv", torch::nn::AnyModule(conv));
}

void build_batch_norm(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "batch_norm");
  const double eps = r.number("eps", 1e-5, positive, "a number > 0");
  const double momentum = r.number("momentum", 0.1, unit_closed, "a number in [0, 1]");
  const bool affine = r.boolean("affine", true);
  r.finish();
  c.add("batch_norm", torch::nn::AnyModule(PixelBatchNorm(
                          PixelBatchNormOptions(c.channels).eps(eps).momentum(momentum).affine(affine))));
}

void build_relu(const json& o, LayerContext& c) {
  OptionReader(o, c.where, "relu").finish();
  c.add("relu", torch::nn::AnyModule(torch::nn::ReLU()));
}

void build_gelu(const json& o, LayerContext& c) {
  OptionReader(o, c.where, "gelu").finish();
  c.add("gelu", torch::nn::AnyModule(torch::nn::GELU()));
}

void build_tanh(const json& o, LayerContext& c) {
  OptionReader(o, c.where, "tanh").finish();
  c.add("tanh", torch::nn::AnyModule(torch::nn::Tanh()));
}

void build_leaky_relu(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "leaky_relu");
  const double slope = r.number("negative_slope", 0.01, finite, "a number");
  r.finish();
  c.add("leaky_relu", torch::nn::AnyModule(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(slope))));
}

void build_elu(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "elu");
  const double alpha = r.number("alpha", 1.0, positive, "a number > 0");
  r.finish();
  c.add("elu", torch::nn::AnyModule(torch::nn::ELU(torch::nn::ELUOptions().alpha(alpha))));
}

void build_dropout(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "dropout");
  const double p = r.number("p", 0.5, unit_half_open, "a number in [0, 1)");
  r.finish();
  c.add("dropout", torch::nn::AnyModule(torch::nn::Dropout(torch::nn::DropoutOptions(p))));
}

void build_healpix_pool(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "healpix_pool");
  const PoolMode mode = parse_pool_mode(r.choice("mode", "max", {"max", "mean"}));
  r.finish();
  const auto healpix = require_healpix(c, "healpix_pool");
  SPHAERA_CHECK(healpix->nside() >= 2, c.where, ": healpix_pool cannot coarsen ", healpix->key(),
                " (nside 1 is the coarsest level)");
  transforms::GridPtr coarse = at_path(c.where, [&] { return transforms::GridPtr(healpix->coarsened()); });
  c.open_pools.push_back(OpenPool{c.grid, c.channels, mode, c.where});
  c.grid = std::move(coarse);
  c.add("healpix_pool", torch::nn::AnyModule(HealpixPool(HealpixPoolOptions(mode))));
}

void build_healpix_unpool(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "healpix_unpool");
  const UnpoolMode mode = parse_unpool_mode(r.choice("mode", "nearest", {"nearest", "indices"}));
  r.finish();
  const auto healpix = require_healpix(c, "healpix_unpool");
  if (mode == UnpoolMode::kNearest) {
    c.grid = at_path(c.where, [&] { return transforms::GridPtr(healpix->refined()); });
    if (!c.open_pools.empty()) c.open_pools.pop_back();  // closes the latest pooling (as the network does)
  } else {
    SPHAERA_CHECK(!c.open_pools.empty(), r.path("mode"),
                  ": \"indices\" needs an earlier healpix_pool with mode \"max\" not yet closed by an unpooling");
    const OpenPool pool = c.open_pools.back();
    SPHAERA_CHECK(pool.mode == PoolMode::kMax, r.path("mode"), ": \"indices\" closes the pooling at ", pool.where,
                  ", whose mode is \"", to_string(pool.mode), "\", not \"max\"");
    SPHAERA_CHECK(pool.channels == c.channels, r.path("mode"), ": \"indices\" closes the max pooling at ", pool.where,
                  ", which had ", pool.channels, " channels, but this input has ", c.channels);
    SPHAERA_CHECK(pool.grid->size() == 4 * c.grid->size(), r.path("mode"), ": \"indices\" closes the max pooling at ",
                  pool.where, " from ", pool.grid->key(), ", but this input is on ", c.grid->key());
    c.open_pools.pop_back();
    c.grid = pool.grid;
  }
  c.add("healpix_unpool", torch::nn::AnyModule(HealpixUnpool(HealpixUnpoolOptions(mode))));
}

void build_global_avg_pool(const json& o, LayerContext& c) {
  OptionReader(o, c.where, "global_avg_pool").finish();
  require_map(c, "global_avg_pool");
  c.grid = nullptr;
  c.add("global_avg_pool", torch::nn::AnyModule(GlobalAvgPool()));
}

void build_flatten(const json& o, LayerContext& c) {
  OptionReader(o, c.where, "flatten").finish();
  require_map(c, "flatten");
  c.channels *= c.grid->size();
  c.grid = nullptr;
  c.add("flatten", torch::nn::AnyModule(torch::nn::Flatten()));
}

void build_linear(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "linear");
  const int64_t out = r.integer("out", c.num_classes, 1);
  const bool bias = r.boolean("bias", true);
  r.finish();
  SPHAERA_CHECK(c.grid == nullptr, c.where, ": linear needs a vector [B, F], but its input is ", describe_input(c),
                ": put global_avg_pool or flatten before it");
  torch::nn::Linear linear(torch::nn::LinearOptions(c.channels, out).bias(bias));
  c.channels = out;
  c.add("linear", torch::nn::AnyModule(linear));
}

// DeepSphere's classifier (Perraudin et al. 2019, cosmology order), expanded into the layers above.
void build_deepsphere_classifier(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "deepsphere_classifier");
  const std::vector<int64_t> channels = r.integer_list("channels", 1);
  const int64_t n = static_cast<int64_t>(channels.size());
  const int64_t k = r.integer("K", 5, 1);
  const std::string pool = r.choice("pool", "max", {"max", "mean"});
  const bool pools_given = r.has("pools");
  const int64_t pools = r.integer("pools", n, 0, n);
  const bool batch_norm = r.boolean("batch_norm", true);
  const std::string variant = r.choice("variant", "fcn", {"fcn", "cnn"});
  const bool head_given = r.has("head");
  const std::string head = r.choice("head", "flatten", {"flatten", "gap"});
  r.finish();
  SPHAERA_CHECK(variant == "cnn" || !head_given, r.path("head"),
                ": only for variant \"cnn\" (the fcn variant always ends with global average pooling)");
  require_map(c, "deepsphere_classifier");
  if (pools > 0) {
    const auto healpix = require_healpix(c, "deepsphere_classifier (with pooling)");
    SPHAERA_CHECK(pools < 31 && healpix->nside() >= (int64_t{1} << pools), r.path(pools_given ? "pools" : "channels"),
                  ": ", pools, " poolings need nside ≥ ", (int64_t{1} << std::min<int64_t>(pools, 30)),
                  " but the input grid ", healpix->key(), " has nside ", healpix->nside(),
                  pools_given ? "" : " (one pooling per graph layer unless `pools` says otherwise)");
  }
  for (int64_t i = 0; i < n; ++i) {
    // filter → batch norm (its shift is the bias) → ReLU → pool
    build_layer({{"type", "cheb_conv"}, {"out", channels[i]}, {"K", k}, {"bias", !batch_norm}}, c);
    if (batch_norm) build_layer({{"type", "batch_norm"}}, c);
    build_layer({{"type", "relu"}}, c);
    if (i < pools) build_layer({{"type", "healpix_pool"}, {"mode", pool}}, c);
  }
  if (variant == "fcn") {
    // Last graph layer linear: one map per class, then their means are the logits.
    build_layer({{"type", "cheb_conv"}, {"out", c.num_classes}, {"K", k}, {"bias", true}}, c);
    build_layer({{"type", "global_avg_pool"}}, c);
  } else {
    build_layer({{"type", head == "gap" ? "global_avg_pool" : "flatten"}}, c);
    build_layer({{"type", "linear"}, {"out", c.num_classes}}, c);
  }
}

std::shared_ptr<const transforms::RingLayout> require_rings(const LayerContext& c, const std::string& type) {
  require_map(c, type);
  auto rings = c.grid->rings();
  SPHAERA_CHECK(rings != nullptr, c.where, ": ", type, " needs a full-sky grid with iso-latitude rings (HEALPix with "
                "data.order 0, Gauss-Legendre, equiangular) for its spherical harmonic transform, but its input is on ",
                c.grid->key());
  return rings;
}

void build_spectral_conv(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "spectral_conv");
  const int64_t out = r.integer("out", std::nullopt, 1);
  const bool lmax_given = r.has("lmax");
  const int64_t lmax_option = r.integer("lmax", 0, 0, 16384);
  const int64_t anchors = r.integer("anchors", 0, 0, 16385);
  const bool bias = r.boolean("bias", true);
  r.finish();
  require_rings(c, "spectral_conv");
  const int64_t lmax = lmax_given ? lmax_option : transforms::natural_lmax(*c.grid);
  SPHAERA_CHECK(anchors == 0 || (anchors >= 2 && anchors <= lmax + 1), r.path("anchors"),
                ": expected 0 (a weight per degree) or an integer in [2, lmax + 1 = ", lmax + 1, "], got ", anchors);
  SpectralConv conv = at_path(c.where, [&] {
    return SpectralConv(SpectralConvOptions(c.channels, out, lmax).anchors(anchors).bias(bias), c.grid, c.spectral);
  });
  c.channels = out;
  c.add("spectral_conv", torch::nn::AnyModule(conv));
}

void build_spectral_pool(const json& o, LayerContext& c) {
  OptionReader r(o, c.where, "spectral_pool");
  const bool lmax_given = r.has("lmax");
  const int64_t lmax_option = r.integer("lmax", 0, 0, 16384);
  r.finish();
  require_rings(c, "spectral_pool");
  const transforms::GridPtr coarse = at_path(c.where, [&] { return coarser_ring_grid(c.grid); });
  const int64_t lmax = lmax_given ? lmax_option : transforms::natural_lmax(*coarse);
  SpectralPool pool = at_path(c.where, [&] { return SpectralPool(c.grid, coarse, lmax, c.spectral); });
  c.grid = coarse;
  c.add("spectral_pool", torch::nn::AnyModule(pool));
}

}  // namespace

// ---- context, registry --------------------------------------------------------------------------------------------

void LayerContext::add(const std::string& type, torch::nn::AnyModule module) {
  layers.push_back(NetworkLayer{type, where, std::move(module), grid, channels});
}

void LayerRegistry::add(const std::string& type, LayerBuilder builder) {
  SPHAERA_CHECK(!type.empty() && builder, "LayerRegistry: empty type name or builder");
  SPHAERA_CHECK(builders_.count(type) == 0, "LayerRegistry: layer type '", type, "' registered twice");
  builders_.emplace(type, std::move(builder));
}

const LayerBuilder& LayerRegistry::find(const std::string& type, const std::string& where) const {
  const auto it = builders_.find(type);
  SPHAERA_CHECK(it != builders_.end(), where, ".type: unknown layer type \"", type, "\" (known: ", join(types()), ")");
  return it->second;
}

std::vector<std::string> LayerRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& [name, builder] : builders_) out.push_back(name);
  return out;  // std::map: sorted
}

void register_builtin_layers(LayerRegistry& registry) {
  registry.add("cheb_conv", build_cheb_conv);
  registry.add("batch_norm", build_batch_norm);
  registry.add("relu", build_relu);
  registry.add("leaky_relu", build_leaky_relu);
  registry.add("elu", build_elu);
  registry.add("gelu", build_gelu);
  registry.add("tanh", build_tanh);
  registry.add("dropout", build_dropout);
  registry.add("healpix_pool", build_healpix_pool);
  registry.add("healpix_unpool", build_healpix_unpool);
  registry.add("global_avg_pool", build_global_avg_pool);
  registry.add("flatten", build_flatten);
  registry.add("linear", build_linear);
  registry.add("deepsphere_classifier", build_deepsphere_classifier);
  registry.add("spectral_conv", build_spectral_conv);
  registry.add("spectral_pool", build_spectral_pool);
}

const LayerRegistry& layer_registry() {
  // Filled on first use (a function-local static, not a static initialiser).
  static const LayerRegistry registry = [] {
    LayerRegistry r;
    register_builtin_layers(r);
    return r;
  }();
  return registry;
}

std::vector<std::string> registered_layer_types() { return layer_registry().types(); }

void build_layer(const json& spec, LayerContext& context) {
  SPHAERA_CHECK(spec.is_object(), context.where, ": expected a layer mapping {type: ..., options}, got ", spec.dump());
  SPHAERA_CHECK(spec.contains("type"), context.where, ".type: required (one of: ", join(registered_layer_types()), ")");
  const json& type = spec.at("type");
  SPHAERA_CHECK(type.is_string(), context.where, ".type: expected a layer type name, got ", type.dump());
  layer_registry().find(type.get<std::string>(), context.where)(spec, context);
}

transforms::GraphOptions parse_graph_options(const json& graph, const std::string& where) {
  OptionReader r(graph, where, "graph");
  const std::string construction = r.choice("construction", "v2", {"v1", "v2"});
  const bool k_given = r.has("k");
  const int64_t k = r.integer("k", 8, 1, 1000000);
  const bool laplacian_given = r.has("laplacian");
  const std::string laplacian = r.choice("laplacian", "combinatorial", {"combinatorial", "normalized"});
  const bool width_given = r.has("kernel_width");
  const double width = r.number("kernel_width", 0.0, positive, "a number > 0");
  r.finish();

  transforms::GraphOptions options;
  options.construction = construction == "v1" ? transforms::GraphConstruction::kV1 : transforms::GraphConstruction::kV2;
  if (options.construction == transforms::GraphConstruction::kV1) {
    SPHAERA_CHECK(!k_given || k == 8, r.path("k"),
                  ": construction v1 links the 8 HEALPix neighbours; k must be 8 or "
                  "absent, got ",
                  k);
    SPHAERA_CHECK(!width_given, r.path("kernel_width"),
                  ": only for construction v2 (v1's kernel width is the mean squared distance)");
  } else {
    SPHAERA_CHECK(width_given || k == 8 || k == 20 || k == 40 || k == 60, r.path("k"),
                  ": expected 8, 20, 40 or 60 (the published kernel widths) unless kernel_width is given, got ", k);
  }
  options.k = static_cast<int>(k);
  if (laplacian_given) {
    options.laplacian =
        laplacian == "normalized" ? transforms::LaplacianKind::kNormalized : transforms::LaplacianKind::kCombinatorial;
  }
  if (width_given) options.kernel_width = width;
  return options;
}

transforms::ShtOptions parse_spectral_options(const json& spectral, const std::string& where) {
  OptionReader r(spectral, where, "spectral");
  const std::string mode = r.choice("mode", "auto", {"auto", "precompute", "on_the_fly"});
  const int64_t iterations = r.integer("iterations", 0, 0, 100);
  const double budget_gb = r.number("memory_budget_gb", 1.0, positive, "a number of GB > 0");
  r.finish();
  transforms::ShtOptions options;
  options.mode = transforms::parse_sht_mode(mode);
  options.iterations = static_cast<int>(iterations);
  options.memory_budget = static_cast<int64_t>(budget_gb * 1073741824.0);
  return options;
}

Network build_network(const json& model_section, const ModelInputs& inputs) {
  SPHAERA_CHECK(inputs.grid != nullptr, "model: no input grid given");
  SPHAERA_CHECK(inputs.in_channels >= 1, "model: input channels must be at least 1, got ", inputs.in_channels);
  SPHAERA_CHECK(inputs.num_classes >= 1, "model: number of classes must be at least 1, got ", inputs.num_classes);
  SPHAERA_CHECK(model_section.is_object(), "model: expected a mapping with `layers` (and optionally `graph`), got ",
                model_section.dump());
  for (const auto& item : model_section.items()) {
    SPHAERA_CHECK(item.key() == "graph" || item.key() == "spectral" || item.key() == "layers", "model.", item.key(),
                  ": unknown key (known: graph, layers, spectral)");
  }
  LayerContext context;
  context.grid = inputs.grid;
  context.channels = inputs.in_channels;
  context.num_classes = inputs.num_classes;
  context.spectral.iterations = 0;  // inside networks: one quadrature step (see `spectral` above)
  if (model_section.contains("graph")) context.graph = parse_graph_options(model_section.at("graph"), "model.graph");
  if (model_section.contains("spectral")) {
    context.spectral = parse_spectral_options(model_section.at("spectral"), "model.spectral");
  }
  SPHAERA_CHECK(model_section.contains("layers"),
                "model.layers: required (a list of layers, each {type: ..., options})");
  const json& layers = model_section.at("layers");
  SPHAERA_CHECK(layers.is_array() && !layers.empty(), "model.layers: expected a non-empty list of layers, got ",
                layers.dump());
  for (size_t i = 0; i < layers.size(); ++i) {
    context.where = "model.layers[" + std::to_string(i) + "]";
    build_layer(layers[i], context);
  }
  return Network(inputs.grid, inputs.in_channels, std::move(context.layers));
}

}  // namespace sphaera::models
