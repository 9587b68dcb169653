#include "sphaera/models/functional.h"

#include <vector>

#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace sphaera::models {

at::Tensor cheb_conv(const at::Tensor& x, const core::CsrMatrix& rescaled_laplacian, const at::Tensor& weight,
                     const at::Tensor& bias) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3, "ChebConv: input must be [B, Cin, V], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  SPHAERA_CHECK(x.is_floating_point(), "ChebConv: input must be floating point, got ", x.scalar_type());
  SPHAERA_CHECK(weight.defined() && weight.dim() == 3, "ChebConv: weight must be [Cin, K, Cout], got ",
                weight.defined() ? weight.sizes() : c10::IntArrayRef{});
  const int64_t batch = x.size(0);
  const int64_t cin = x.size(1);
  const int64_t v = x.size(2);
  const int64_t k = weight.size(1);
  const int64_t cout = weight.size(2);
  SPHAERA_CHECK(weight.size(0) == cin, "ChebConv: input has ", cin,
                " channels but the weight [Cin, K, Cout] = ", weight.sizes(), " expects ", weight.size(0));
  SPHAERA_CHECK(k >= 1, "ChebConv: K must be at least 1, the weight is ", weight.sizes());
  SPHAERA_CHECK(weight.scalar_type() == x.scalar_type() && weight.device() == x.device(), "ChebConv: weight is ",
                weight.scalar_type(), " on ", weight.device(), " but the input is ", x.scalar_type(), " on ",
                x.device());
  if (bias.defined()) {
    SPHAERA_CHECK(bias.dim() == 1 && bias.size(0) == cout, "ChebConv: bias must be [Cout = ", cout, "], got ",
                  bias.sizes());
    SPHAERA_CHECK(bias.scalar_type() == x.scalar_type() && bias.device() == x.device(), "ChebConv: bias is ",
                  bias.scalar_type(), " on ", bias.device(), " but the input is ", x.scalar_type(), " on ", x.device());
  }
  if (k > 1) {
    SPHAERA_CHECK(rescaled_laplacian.rows() == v && rescaled_laplacian.cols() == v, "ChebConv: the Laplacian is [",
                  rescaled_laplacian.rows(), ", ", rescaled_laplacian.cols(), "] but the input has V = ", v, " pixels");
    const auto& values = rescaled_laplacian.values();
    SPHAERA_CHECK(values.scalar_type() == x.scalar_type() && values.device() == x.device(),
                  "ChebConv: the Laplacian is ", values.scalar_type(), " on ", values.device(), " but the input is ",
                  x.scalar_type(), " on ", x.device());
  }

  // [B, Cin, V] -> [V, B·Cin]: the layout spmm wants (pixels as rows, all maps as columns).
  const at::Tensor t0 = x.permute({2, 0, 1}).reshape({v, batch * cin});
  std::vector<at::Tensor> terms;
  terms.reserve(static_cast<size_t>(k));
  terms.push_back(t0);
  if (k > 1) terms.push_back(core::spmm(rescaled_laplacian, t0));
  for (int64_t i = 2; i < k; ++i) {
    terms.push_back(2 * core::spmm(rescaled_laplacian, terms[i - 1]) - terms[i - 2]);
  }
  // [V, B·Cin, K] viewed as [V·B, Cin·K]: column cin·K + k, the flattening of weight [Cin, K, Cout].
  const at::Tensor stacked = (k == 1 ? t0 : at::stack(terms, 2)).reshape({v * batch, cin * k});
  const at::Tensor w = weight.reshape({cin * k, cout});
  const at::Tensor mixed = bias.defined() ? at::addmm(bias, stacked, w) : at::mm(stacked, w);
  // [V·B, Cout] -> [B, Cout, V] (a permuted view: the next layer's permute to [V, B·C] is then free).
  return mixed.view({v, batch, cout}).permute({1, 2, 0});
}

PoolMode parse_pool_mode(const std::string& text) {
  if (text == "mean") return PoolMode::kMean;
  if (text == "max") return PoolMode::kMax;
  SPHAERA_CHECK(false, "HEALPix pooling: unknown mode '", text, "' (known: mean, max)");
  return PoolMode::kMean;
}

std::string to_string(PoolMode mode) { return mode == PoolMode::kMean ? "mean" : "max"; }

PoolResult healpix_pool(const at::Tensor& x, PoolMode mode) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3, "HealpixPool: input must be [B, C, V], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  const int64_t v = x.size(2);
  SPHAERA_CHECK(v % 4 == 0 && v > 0, "HealpixPool: V = ", v,
                " is not a positive multiple of 4 (NEST pooling merges 4 children into their parent)");
  const at::Tensor groups = x.reshape({x.size(0), x.size(1), v / 4, 4});
  PoolResult result;
  if (mode == PoolMode::kMean) {
    result.values = groups.mean(3);
    return result;
  }
  auto [values, child] = groups.max(3);
  result.values = values;
  result.indices = child + at::arange(0, v, 4, child.options());  // flat pixel index of each maximum
  return result;
}

at::Tensor healpix_unpool(const at::Tensor& x) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3, "HealpixUnpool: input must be [B, C, V], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  return x.unsqueeze(3).expand({x.size(0), x.size(1), x.size(2), 4}).reshape({x.size(0), x.size(1), 4 * x.size(2)});
}

at::Tensor healpix_unpool(const at::Tensor& x, const at::Tensor& indices) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3, "HealpixUnpool: input must be [B, C, V], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  SPHAERA_CHECK(indices.defined() && indices.sizes() == x.sizes() && indices.scalar_type() == at::kLong,
                "HealpixUnpool: indices must be int64 of the input's shape ", x.sizes(), ", got ",
                indices.defined() ? indices.sizes() : c10::IntArrayRef{}, " ",
                indices.defined() ? indices.scalar_type() : at::ScalarType::Undefined);
  SPHAERA_CHECK(indices.device() == x.device(), "HealpixUnpool: indices on ", indices.device(), ", input on ",
                x.device());
  auto out = at::zeros({x.size(0), x.size(1), 4 * x.size(2)}, x.options());
  return out.scatter(2, indices, x);
}

at::Tensor global_avg_pool(const at::Tensor& x) {
  SPHAERA_CHECK(x.defined() && x.dim() == 3, "GlobalAvgPool: input must be [B, C, V], got ",
                x.defined() ? x.sizes() : c10::IntArrayRef{});
  return x.mean(2);
}

}  // namespace sphaera::models
