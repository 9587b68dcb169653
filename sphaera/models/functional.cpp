#include "sphaera/models/functional.h"

#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace sphaera::models {

namespace {

// dst [cols, rows] = src [rows, cols]ᵀ, both contiguous, by blocks of 64 × 64 that stay in cache (LibTorch's
// strided copy of a transposed view streams one of the two at a cache line per element).
template <typename T>
void transpose_blocked(const T* src, T* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    const int64_t c1 = std::min(cols, c0 + kBlock);
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const int64_t r1 = std::min(rows, r0 + kBlock);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

// The maps [b0, b0 + g) of x [B, C, V] as [g, V, C], contiguous: the layout of the sparse products (each map's
// pixels as rows, its channels as columns). A view when x is the output of a graph layer (stored [B, V, C]); else
// a copy into `buffer` [≥ g, V, C] (blocked on the CPU), and `*copied` says so (the result may then be
// overwritten).
at::Tensor sample_rows(const at::Tensor& x, int64_t b0, int64_t g, const at::Tensor& buffer, bool* copied) {
  const at::Tensor maps = x.narrow(0, b0, g);
  const at::Tensor rows = maps.permute({0, 2, 1});
  *copied = !rows.is_contiguous();
  if (!*copied) return rows;
  const at::Tensor out = buffer.narrow(0, 0, g);
  if (x.device().is_cpu() && maps.is_contiguous()) {
    const int64_t c = x.size(1), v = x.size(2);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sphaera_sample_rows", [&] {
      for (int64_t i = 0; i < g; ++i) {
        transpose_blocked<scalar_t>(maps[i].data_ptr<scalar_t>(), out[i].data_ptr<scalar_t>(), c, v);
      }
    });
  } else {
    out.copy_(rows);
  }
  return out;
}

// T_0 = t0, T_1 = L̂ T_0, T_i = 2 L̂ T_{i-1} − T_{i-2} for i < k, each [g, V, C] handed to `use(i, T_i)` as it
// comes; three terms are alive at a time, T_i overwriting T_{i-2}, in t0's memory only when `t0_writable` (it may
// be the input's), else in the buffers `spare` (two or three of [≥ g, V, C]).
template <typename Use>
void chebyshev_terms(const core::CsrMatrix& l, const at::Tensor& t0, bool t0_writable, int64_t k,
                     const std::vector<at::Tensor>& spare, const Use& use) {
  use(0, t0);
  if (k == 1) return;
  const int64_t g = t0.size(0);
  at::Tensor prev2 = t0;
  at::Tensor prev = spare[0].narrow(0, 0, g);
  core::spmm_update(l, t0, prev, 1.0, 0.0);
  use(1, prev);
  for (int64_t i = 2; i < k; ++i) {
    at::Tensor next = prev2;
    if (i == 2 && !t0_writable) {
      next = spare[1].narrow(0, 0, g);
      next.copy_(t0);
    }
    core::spmm_update(l, prev, next, 2.0, -1.0);
    use(i, next);
    prev2 = prev;
    prev = next;
  }
}

// Maps per chunk: ChebConv runs on g maps at a time, its work buffers [g, V, Cin] at most `chunk_bytes` each (at
// least one map): the memory beyond input and output stays bounded at any resolution, while a chunk holds enough
// maps that reading the Laplacian once per product and chunk costs little.
int64_t maps_per_chunk(int64_t batch, int64_t v, int64_t channels, int64_t element_size, int64_t chunk_bytes) {
  const int64_t per_map = std::max<int64_t>(1, v * channels * element_size);
  const int64_t most = std::clamp<int64_t>(chunk_bytes / per_map, 1, std::max<int64_t>(batch, 1));
  const int64_t chunks = (batch + most - 1) / most;
  return std::max<int64_t>(1, (batch + chunks - 1) / chunks);  // balanced chunks
}

std::vector<at::Tensor> work_buffers(int64_t count, int64_t g, int64_t v, int64_t channels,
                                     const at::TensorOptions& options) {
  std::vector<at::Tensor> buffers;
  for (int64_t i = 0; i < count; ++i) buffers.push_back(at::empty({g, v, channels}, options));
  return buffers;
}

// The Laplacian a ChebConvFunction needs in backward, carried in its saved data.
struct LaplacianHolder : torch::CustomClassHolder {
  explicit LaplacianHolder(core::CsrMatrix m) : l(std::move(m)) {}
  core::CsrMatrix l;
};

// ChebConv as one autograd node, its backward written by hand. Both passes run on chunks of maps (see
// maps_per_chunk). Forward runs the recurrence and adds each term's mix into the output (no stack of the K
// terms). Backward recomputes the terms for the weight's gradient and takes the input's gradient by Clenshaw's
// recurrence on L̂ᵀ,
//   b_i = dy W_iᵀ + 2 L̂ᵀ b_{i+1} − b_{i+2},   dx = dy W_0ᵀ + L̂ᵀ b_1 − b_2,
// the adjoint of Σ_i T_i(L̂) x W_i. It keeps only the input and the weight (and shares the Laplacian). Output and
// input gradient are stored [B, V, C] and returned as [B, C, V] views, which the next graph layer reads in place.
class ChebConvFunction : public torch::autograd::Function<ChebConvFunction> {
 public:
  // bias: [Cout], or empty for none.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const core::CsrMatrix& l, int64_t chunk_bytes) {
    const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);  // float mixes, in place
    const at::NoGradGuard no_grad;
    const int64_t batch = x.size(0), cin = x.size(1), v = x.size(2), k = weight.size(1), cout = weight.size(2);
    const int64_t g_max = maps_per_chunk(batch, v, cin, x.element_size(), chunk_bytes);
    const auto buffers = work_buffers(k > 1 ? 3 : 1, g_max, v, cin, x.options());
    at::Tensor out = at::empty({batch, v, cout}, x.options());
    for (int64_t b0 = 0; b0 < batch; b0 += g_max) {
      const int64_t g = std::min(g_max, batch - b0);
      at::Tensor out_rows = out.narrow(0, b0, g).view({g * v, cout});
      bool copied = false;
      const at::Tensor t0 = sample_rows(x, b0, g, buffers.back(), &copied);
      chebyshev_terms(l, t0, copied, k, buffers, [&](int64_t i, const at::Tensor& t) {
        const at::Tensor rows = t.view({g * v, cin});
        if (i > 0) {
          out_rows.addmm_(rows, weight.select(1, i));
        } else if (bias.numel() > 0) {  // the bias broadcast first, then the mix added
          out_rows.copy_(bias.expand({g * v, cout}));
          out_rows.addmm_(rows, weight.select(1, 0));
        } else {
          at::mm_out(out_rows, rows, weight.select(1, 0));
        }
      });
    }
    ctx->save_for_backward({x, weight});
    ctx->saved_data["bias"] = bias.numel() > 0;
    ctx->saved_data["chunk_bytes"] = chunk_bytes;
    ctx->saved_data["laplacian"] = c10::IValue::make_capsule(c10::make_intrusive<LaplacianHolder>(l));
    return out.permute({0, 2, 1});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    // As spmm: the gradients are computed without a graph, so a double backward is refused, not silently wrong.
    SPHAERA_CHECK(!at::GradMode::is_enabled(),
                  "ChebConv: second derivatives are not supported (backward was called with create_graph=true, e.g. "
                  "for a gradient penalty or double backward)");
    const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const core::CsrMatrix& l =
        static_cast<const LaplacianHolder*>(ctx->saved_data["laplacian"].toCapsule().get())->l;
    const at::Tensor& grad_out = grad_outputs[0];
    const int64_t batch = x.size(0), cin = x.size(1), v = x.size(2), k = weight.size(1), cout = weight.size(2);
    const bool want_x = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);
    const bool want_b = has_bias && ctx->needs_input_grad(2);
    const int64_t g_max =
        maps_per_chunk(batch, v, std::max(cin, cout), x.element_size(), ctx->saved_data["chunk_bytes"].toInt());
    const auto buffers = work_buffers(k > 1 ? 3 : 1, g_max, v, cin, x.options());
    const at::Tensor dy_buffer = at::empty({g_max, v, cout}, x.options());
    at::Tensor grad_x = want_x ? at::empty({batch, v, cin}, x.options()) : at::Tensor();
    std::vector<at::Tensor> grad_w_terms;
    if (want_w) grad_w_terms = std::vector<at::Tensor>(static_cast<size_t>(k));
    at::Tensor grad_b = want_b ? at::zeros({cout}, x.options()) : at::Tensor();
    for (int64_t b0 = 0; b0 < batch; b0 += g_max) {
      const int64_t g = std::min(g_max, batch - b0);
      bool dy_copied = false;
      const at::Tensor dy = sample_rows(grad_out, b0, g, dy_buffer, &dy_copied).view({g * v, cout});
      if (want_b) grad_b.add_(dy.sum(0));
      if (want_w) {
        bool copied = false;
        const at::Tensor t0 = sample_rows(x, b0, g, buffers.back(), &copied);
        chebyshev_terms(l, t0, copied, k, buffers, [&](int64_t i, const at::Tensor& t) {
          const at::Tensor rows_t = t.view({g * v, cin}).t();
          auto& term = grad_w_terms[static_cast<size_t>(i)];  // [Cin, Cout], summed over the chunks
          if (term.defined()) {
            term.addmm_(rows_t, dy);
          } else {
            term = at::mm(rows_t, dy);
          }
        });
      }
      if (want_x) clenshaw_adjoint(l, weight, dy, grad_x.narrow(0, b0, g), buffers);
    }
    at::Tensor grad_w = want_w ? at::stack(grad_w_terms, 1) : at::Tensor();
    return {want_x ? grad_x.permute({0, 2, 1}) : at::Tensor(), grad_w, grad_b, at::Tensor(), at::Tensor()};
  }

 private:
  // dx [g, V, Cin] = Σ_i T_i(L̂)ᵀ dy W_iᵀ for dy [g·V, Cout] by Clenshaw's recurrence, b_i in two of `buffers`.
  static void clenshaw_adjoint(const core::CsrMatrix& l, const at::Tensor& weight, const at::Tensor& dy,
                               const at::Tensor& dx, const std::vector<at::Tensor>& buffers) {
    const int64_t k = weight.size(1), g = dx.size(0), v = dx.size(1), cin = dx.size(2);
    at::Tensor b1, b2;  // b_{i+1}, b_{i+2} (undefined: zero)
    for (int64_t i = k - 1; i >= 0; --i) {
      // b_i (dx at i = 0) = −b_{i+2} + dy W_iᵀ, then + c · L̂ᵀ b_{i+1}; written over b_{i+2} when there is one.
      at::Tensor next = i == 0 ? dx : b2.defined() ? b2 : buffers[static_cast<size_t>(k - 1 - i)].narrow(0, 0, g);
      at::Tensor next_rows = next.view({g * v, cin});
      const at::Tensor mix_t = weight.select(1, i).t();
      if (b2.defined()) {
        if (!next.is_same(b2)) next.copy_(b2);
        next_rows.addmm_(dy, mix_t, /*beta=*/-1.0, /*alpha=*/1.0);
      } else {
        at::mm_out(next_rows, dy, mix_t);
      }
      if (b1.defined()) core::spmm_update(l, b1, next, i == 0 ? 1.0 : 2.0, 1.0, /*transposed=*/true);
      b2 = b1;
      b1 = next;
    }
  }
};

}  // namespace

at::Tensor cheb_conv(const at::Tensor& x, const core::CsrMatrix& rescaled_laplacian, const at::Tensor& weight,
                     const at::Tensor& bias, int64_t chunk_bytes) {
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

  if (k > 1 && rescaled_laplacian.values().requires_grad() && at::GradMode::is_enabled()) {
    // Gradients for the Laplacian's values too: the recurrence composed of differentiable products.
    const at::Tensor t0 = x.permute({2, 0, 1}).reshape({v, batch * cin});
    std::vector<at::Tensor> terms{t0, core::spmm(rescaled_laplacian, t0)};
    for (int64_t i = 2; i < k; ++i) terms.push_back(2 * core::spmm(rescaled_laplacian, terms[i - 1]) - terms[i - 2]);
    // [V, B·Cin, K] viewed as [V·B, Cin·K]: column cin·K + k, the flattening of weight [Cin, K, Cout].
    const at::Tensor stacked = at::stack(terms, 2).reshape({v * batch, cin * k});
    const at::Tensor w = weight.reshape({cin * k, cout});
    const at::Tensor mixed = bias.defined() ? at::addmm(bias, stacked, w) : at::mm(stacked, w);
    return mixed.view({v, batch, cout}).permute({1, 2, 0});
  }
  // No bias: an empty tensor in its place (autograd's function inputs must be defined tensors).
  return ChebConvFunction::apply(x, weight, bias.defined() ? bias : at::empty({0}, x.options()), rescaled_laplacian,
                                 chunk_bytes);
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
