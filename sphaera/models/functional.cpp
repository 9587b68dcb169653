#include "sphaera/models/functional.h"

#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "sphaera/core/check.h"

namespace sphaera::models {

namespace {

// dst [cols, rows] = src [rows, cols]ᵀ, both contiguous, by blocks of 64 × 64 that stay in cache (LibTorch's
// strided copy of a transposed view streams one of the two at a cache line per element). Within a block src is
// read along its rows: the rows of src are far apart (a map's pixels), the block of dst is a few pages.
template <typename T>
void transpose_blocked(const T* src, T* dst, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    const int64_t c1 = std::min(cols, c0 + kBlock);
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const int64_t r1 = std::min(rows, r0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

// A contiguous [rows, cols] matrix at the start of the flat work buffer `flat`.
at::Tensor matrix_in(const at::Tensor& flat, int64_t rows, int64_t cols) {
  return flat.narrow(0, 0, rows * cols).view({rows, cols});
}

// The maps [b0, b0 + g) of x [B, C, V] as [V, g·C]: pixels as rows, the maps' channels side by side as columns,
// the layout of the sparse products. A column slice of x's own memory when x is stored [V, B, C] (a graph
// layer's output or input gradient); else a copy into the flat buffer `flat` (a blocked transpose on the CPU),
// and `*copied` says so (the copy may then be overwritten).
at::Tensor pixel_rows(const at::Tensor& x, int64_t b0, int64_t g, const at::Tensor& flat, bool* copied) {
  const int64_t batch = x.size(0), c = x.size(1), v = x.size(2);
  const at::Tensor stored = x.permute({2, 0, 1});  // [V, B, C]
  *copied = !stored.is_contiguous();
  if (!*copied) return stored.view({v, batch * c}).narrow(1, b0 * c, g * c);
  const at::Tensor out = matrix_in(flat, v, g * c);
  const at::Tensor maps = x.narrow(0, b0, g);  // [g, C, V]
  if (x.device().is_cpu() && maps.is_contiguous()) {
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sphaera_pixel_rows", [&] {
      transpose_blocked<scalar_t>(maps.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), g * c, v);
    });
  } else {
    out.view({v, g, c}).copy_(maps.permute({2, 0, 1}));
  }
  return out;
}

// out ← beta · out + t W per map, for g maps side by side: t [V, g·Cin] → out [V, g·Cout], w [Cin, Cout] (beta = 0
// ignores out's old values). One GEMM over [V·g, Cin] when both are contiguous, else one per map.
void mix_maps(const at::Tensor& t, const at::Tensor& w, const at::Tensor& out, int64_t g, double beta) {
  const int64_t v = t.size(0), cin = w.size(0), cout = w.size(1);
  if (t.is_contiguous() && out.is_contiguous()) {
    out.view({v * g, cout}).addmm_(t.view({v * g, cin}), w, beta, 1.0);
    return;
  }
  for (int64_t j = 0; j < g; ++j) out.narrow(1, j * cout, cout).addmm_(t.narrow(1, j * cin, cin), w, beta, 1.0);
}

// Σ over the g maps side by side of t_jᵀ dy_j: t [V, g·Cin], dy [V, g·Cout] → [Cin, Cout].
at::Tensor mix_grad(const at::Tensor& t, const at::Tensor& dy, int64_t g, int64_t cin, int64_t cout) {
  const int64_t v = t.size(0);
  if (t.is_contiguous() && dy.is_contiguous()) return at::mm(t.view({v * g, cin}).t(), dy.view({v * g, cout}));
  at::Tensor sum = at::zeros({cin, cout}, t.options());
  for (int64_t j = 0; j < g; ++j) sum.addmm_(t.narrow(1, j * cin, cin).t(), dy.narrow(1, j * cout, cout));
  return sum;
}

// T_0 = t0, T_1 = L̂ T_0, T_i = 2 L̂ T_{i-1} − T_{i-2} for i < k (L̂ᵀ with `transposed`), each [V, g·C] handed to
// `use(i, T_i)` as it comes; three terms are alive at a time, T_i overwriting T_{i-2}: in t0's memory only when
// `t0_writable` (it may be the input's), else in the flat buffers `spare[0]` and `spare[1]`.
template <typename Use>
void chebyshev_terms(const core::CsrMatrix& l, bool transposed, const at::Tensor& t0, bool t0_writable, int64_t k,
                     const std::vector<at::Tensor>& spare, const Use& use) {
  use(0, t0);
  if (k == 1) return;
  const int64_t v = t0.size(0), cols = t0.size(1);
  at::Tensor prev2 = t0;
  at::Tensor prev = matrix_in(spare[0], v, cols);
  core::spmm_update(l, t0, prev, 1.0, 0.0, transposed);
  use(1, prev);
  for (int64_t i = 2; i < k; ++i) {
    at::Tensor next = prev2;
    if (i == 2 && !t0_writable) {
      next = matrix_in(spare[1], v, cols);
      next.copy_(t0);
    }
    core::spmm_update(l, prev, next, 2.0, -1.0, transposed);
    use(i, next);
    prev2 = prev;
    prev = next;
  }
}

// Maps per chunk: ChebConv runs on g maps at a time, its work buffers [V, g·C] at most `chunk_bytes` each (at
// least one map): the memory beyond input and output stays bounded at any resolution, while a chunk holds enough
// maps that reading the Laplacian once per product and chunk costs little.
int64_t maps_per_chunk(int64_t batch, int64_t v, int64_t channels, int64_t element_size, int64_t chunk_bytes) {
  const int64_t per_map = std::max<int64_t>(1, v * channels * element_size);
  const int64_t most = std::clamp<int64_t>(chunk_bytes / per_map, 1, std::max<int64_t>(batch, 1));
  const int64_t chunks = (batch + most - 1) / most;
  return std::max<int64_t>(1, (batch + chunks - 1) / chunks);  // balanced chunks
}

// The elements of each of ChebConv's work buffers and how many there are (see cheb_conv_workspace_bytes).
struct Workspace {
  int64_t maps;      // per chunk
  int64_t count;     // buffers
  int64_t elements;  // per buffer
};

Workspace cheb_conv_workspace(int64_t batch, int64_t v, int64_t cin, int64_t cout, int64_t element_size,
                              bool backward, int64_t chunk_bytes) {
  const int64_t channels = backward ? std::max(cin, cout) : cin;
  const int64_t g = maps_per_chunk(batch, v, channels, element_size, chunk_bytes);
  return {g, backward ? 4 : 3, v * g * channels};
}

// Flat work buffers of at least `elements` each, the first `count` of the calling thread's set on the CPU: kept
// from call to call, as the largest call so far needed them (release_cheb_conv_workspace() frees them), because
// fresh pages cost more than the products that fill them (a 400 MB buffer: tens of ms of page clearing against
// 30 ms for a sparse product). Slots 0 and 1: recurrence terms (backward: also Clenshaw's); 2: the input's copy;
// 3: backward's copy of the output gradient. Calls never nest. Other devices allocate
// per call (CUDA's caching allocator already reuses memory).
thread_local std::vector<at::Tensor> cpu_workspace;

std::vector<at::Tensor> work_buffers(int64_t count, int64_t elements, const at::TensorOptions& options) {
  std::vector<at::Tensor> buffers;
  const bool cached = options.device().is_cpu();
  if (cached && cpu_workspace.size() < static_cast<size_t>(count)) cpu_workspace.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    if (!cached) {
      buffers.push_back(at::empty({elements}, options));
      continue;
    }
    at::Tensor& slot = cpu_workspace[static_cast<size_t>(i)];
    if (!slot.defined() || slot.scalar_type() != options.dtype().toScalarType() || slot.numel() < elements) {
      slot = at::Tensor();  // the old one freed first
      slot = at::empty({elements}, options);
    }
    buffers.push_back(slot.narrow(0, 0, elements));
  }
  return buffers;
}

// The Laplacian a ChebConvFunction needs in backward, carried in its saved data.
struct LaplacianHolder : torch::CustomClassHolder {
  explicit LaplacianHolder(core::CsrMatrix m) : l(std::move(m)) {}
  core::CsrMatrix l;
};

// ChebConv as one autograd node, its backward written by hand. Both passes run on chunks of maps (see
// maps_per_chunk). Forward runs the recurrence and adds each term's mix into the output (no stack of the K
// terms). Backward runs the recurrence on the output gradient, U_i = T_i(L̂ᵀ) dy, and takes dW_i = xᵀ U_i and
// dx = Σ_i U_i W_iᵀ from it; when Cout > 2 Cin (or W needs no gradient) it instead recomputes x's terms for dW
// and takes dx by Clenshaw's recurrence on L̂ᵀ,
//   b_i = dy W_iᵀ + 2 L̂ᵀ b_{i+1} − b_{i+2},   dx = dy W_0ᵀ + L̂ᵀ b_1 − b_2,
// the adjoint of Σ_i T_i(L̂) x W_i, whose products have Cin columns. It keeps only the input and the weight (and
// shares the Laplacian). Output and
// input gradient are stored [V, B, C] and returned as [B, C, V] views, which the next graph layer reads in place.
class ChebConvFunction : public torch::autograd::Function<ChebConvFunction> {
 public:
  // bias: [Cout], or empty for none.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const core::CsrMatrix& l, int64_t chunk_bytes) {
    const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);  // float mixes, in place
    const at::NoGradGuard no_grad;
    const int64_t batch = x.size(0), cin = x.size(1), v = x.size(2), k = weight.size(1), cout = weight.size(2);
    const Workspace ws = cheb_conv_workspace(batch, v, cin, cout, x.element_size(), false, chunk_bytes);
    const int64_t g_max = ws.maps;
    const auto buffers = work_buffers(ws.count, ws.elements, x.options());
    const at::Tensor out = at::empty({v, batch, cout}, x.options());
    for (int64_t b0 = 0; b0 < batch; b0 += g_max) {
      const int64_t g = std::min(g_max, batch - b0);
      const at::Tensor out_maps = out.view({v, batch * cout}).narrow(1, b0 * cout, g * cout);
      if (bias.numel() > 0) out_maps.view({v, g, cout}).copy_(bias.expand({v, g, cout}));
      bool copied = false;
      const at::Tensor t0 = pixel_rows(x, b0, g, buffers[2], &copied);
      chebyshev_terms(l, false, t0, copied, k, buffers, [&](int64_t i, const at::Tensor& t) {
        mix_maps(t, weight.select(1, i), out_maps, g, i == 0 && bias.numel() == 0 ? 0.0 : 1.0);
      });
    }
    ctx->save_for_backward({x, weight});
    ctx->saved_data["bias"] = bias.numel() > 0;
    ctx->saved_data["chunk_bytes"] = chunk_bytes;
    ctx->saved_data["laplacian"] = c10::IValue::make_capsule(c10::make_intrusive<LaplacianHolder>(l));
    return out.permute({1, 2, 0});
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
    const Workspace ws =
        cheb_conv_workspace(batch, v, cin, cout, x.element_size(), true, ctx->saved_data["chunk_bytes"].toInt());
    const int64_t g_max = ws.maps;
    const auto buffers = work_buffers(ws.count, ws.elements, x.options());
    const at::Tensor& dy_buffer = buffers[3];
    const at::Tensor grad_x = want_x ? at::empty({v, batch, cin}, x.options()) : at::Tensor();
    std::vector<at::Tensor> grad_w_terms(static_cast<size_t>(k));
    at::Tensor grad_b = want_b ? at::zeros({cout}, x.options()) : at::Tensor();
    auto add_weight_grad = [&](int64_t i, const at::Tensor& chunk) {  // dW_i [Cin, Cout], summed over the chunks
      auto& term = grad_w_terms[static_cast<size_t>(i)];
      term = term.defined() ? term.add_(chunk) : chunk;
    };
    for (int64_t b0 = 0; b0 < batch; b0 += g_max) {
      const int64_t g = std::min(g_max, batch - b0);
      bool dy_copied = false;
      const at::Tensor dy = pixel_rows(grad_out, b0, g, dy_buffer, &dy_copied);  // [V, g·Cout]
      if (want_b) grad_b.add_(dy.sum(0).view({g, cout}).sum(0));
      const at::Tensor dx = want_x ? grad_x.view({v, batch * cin}).narrow(1, b0 * cin, g * cin) : at::Tensor();
      if (want_w && cout <= 2 * cin) {
        // Both gradients from one recurrence on the output gradient, U_i = T_i(L̂ᵀ) dy (as T_i(L̂)ᵀ = T_i(L̂ᵀ)):
        // dW_i = xᵀ U_i and dx = Σ_i U_i W_iᵀ. K − 1 products on Cout columns, against 2 (K − 1) on Cin for
        // recomputing x's terms and then Clenshaw's recurrence: taken when Cout ≤ 2 Cin.
        bool copied = false;
        const at::Tensor xt = pixel_rows(x, b0, g, buffers[2], &copied);
        chebyshev_terms(l, true, dy, dy_copied, k, buffers, [&](int64_t i, const at::Tensor& u) {
          add_weight_grad(i, mix_grad(xt, u, g, cin, cout));
          if (want_x) mix_maps(u, weight.select(1, i).t(), dx, g, i == 0 ? 0.0 : 1.0);
        });
        continue;
      }
      if (want_w) {
        bool copied = false;
        const at::Tensor t0 = pixel_rows(x, b0, g, buffers[2], &copied);
        chebyshev_terms(l, false, t0, copied, k, buffers,
                        [&](int64_t i, const at::Tensor& t) { add_weight_grad(i, mix_grad(t, dy, g, cin, cout)); });
      }
      if (want_x) clenshaw_adjoint(l, weight, dy, dx, g, buffers);
    }
    const at::Tensor grad_w = want_w ? at::stack(grad_w_terms, 1) : at::Tensor();
    return {want_x ? grad_x.permute({1, 2, 0}) : at::Tensor(), grad_w, grad_b, at::Tensor(), at::Tensor()};
  }

 private:
  // dx [V, g·Cin] = Σ_i T_i(L̂)ᵀ dy W_iᵀ for dy [V, g·Cout] by Clenshaw's recurrence, b_i in two of `buffers`.
  static void clenshaw_adjoint(const core::CsrMatrix& l, const at::Tensor& weight, const at::Tensor& dy,
                               const at::Tensor& dx, int64_t g, const std::vector<at::Tensor>& buffers) {
    const int64_t k = weight.size(1), v = dx.size(0), cols = dx.size(1);
    at::Tensor b1, b2;  // b_{i+1}, b_{i+2} (undefined: zero)
    for (int64_t i = k - 1; i >= 0; --i) {
      // b_i (dx at i = 0) = −b_{i+2} + dy W_iᵀ, then + c · L̂ᵀ b_{i+1}; written over b_{i+2} when there is one.
      const at::Tensor next =
          i == 0 ? dx : b2.defined() ? b2 : matrix_in(buffers[static_cast<size_t>(k - 1 - i)], v, cols);
      const at::Tensor mix_t = weight.select(1, i).t();  // [Cout, Cin]
      if (b2.defined()) {
        if (!next.is_same(b2)) next.copy_(b2);
        mix_maps(dy, mix_t, next, g, -1.0);
      } else {
        mix_maps(dy, mix_t, next, g, 0.0);
      }
      if (b1.defined()) core::spmm_update(l, b1, next, i == 0 ? 1.0 : 2.0, 1.0, /*transposed=*/true);
      b2 = b1;
      b1 = next;
    }
  }
};

}  // namespace

int64_t cheb_conv_workspace_bytes(int64_t batch, int64_t pixels, int64_t cin, int64_t cout, int64_t element_size,
                                  bool backward, int64_t chunk_bytes) {
  const Workspace ws = cheb_conv_workspace(batch, pixels, cin, cout, element_size, backward, chunk_bytes);
  return ws.count * ws.elements * element_size;
}

void release_cheb_conv_workspace() { cpu_workspace.clear(); }

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
  PoolResult result;
  // A graph layer's output is stored [V, B, C] (see cheb_conv): pooled in that layout, where the 4 children of
  // a parent are 4 consecutive rows, and handed on as a [B, C, V/4] view of it (the next graph layer reads it in
  // place). A reshape of the strided view would copy it, and the reduction would stride through it.
  const at::Tensor pixels_first = x.permute({2, 0, 1});
  if (pixels_first.is_contiguous() && x.size(0) * x.size(1) > 1) {
    const at::Tensor groups = pixels_first.view({v / 4, 4, x.size(0), x.size(1)});
    if (mode == PoolMode::kMean) {
      result.values = groups.mean(1).permute({1, 2, 0});
      return result;
    }
    auto [values, child] = groups.max(1);
    result.values = values.permute({1, 2, 0});
    result.indices = (child + at::arange(0, v, 4, child.options()).view({v / 4, 1, 1})).permute({1, 2, 0});
    return result;
  }
  const at::Tensor groups = x.reshape({x.size(0), x.size(1), v / 4, 4});
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
