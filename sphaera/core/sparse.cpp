#include "sphaera/core/sparse.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/core/simd.h"
#ifdef SPHAERA_WITH_CUDA
#include "sphaera/core/sparse_cuda.h"
#endif

namespace sphaera::core {

struct CsrMatrix::TransposeCache {
  std::once_flag once;
  at::Tensor row_ptr;      // int64 [cols + 1]
  at::Tensor col_index;    // int32 [nnz]
  at::Tensor permutation;  // int64 [nnz]: entry of the transpose -> entry of the matrix
  // cuSPARSE wants row offsets and column indices of one type: the row pointers of the matrix and of its
  // transpose in int32 (when nnz fits), made on the matrix's device once per pattern.
  std::once_flag device_once;
  at::Tensor row_ptr32, t_row_ptr32;
};

namespace {

void check_csr(int64_t rows, int64_t cols, const at::Tensor& row_ptr, const at::Tensor& col_index,
               const at::Tensor& values) {
  SPHAERA_CHECK(rows >= 0 && cols >= 0, "CsrMatrix: negative shape [", rows, ", ", cols, "]");
  SPHAERA_CHECK(cols <= INT32_MAX, "CsrMatrix: ", cols, " columns exceed int32 column indices");
  SPHAERA_CHECK(row_ptr.dim() == 1 && row_ptr.numel() == rows + 1 && row_ptr.scalar_type() == at::kLong,
                "CsrMatrix: row_ptr must be int64 [rows + 1 = ", rows + 1, "], got ", row_ptr.scalar_type(), " ",
                row_ptr.sizes());
  SPHAERA_CHECK(col_index.dim() == 1 && col_index.scalar_type() == at::kInt,
                "CsrMatrix: col_index must be int32 [nnz], got ", col_index.scalar_type(), " ", col_index.sizes());
  SPHAERA_CHECK(values.dim() == 1 && values.numel() == col_index.numel(),
                "CsrMatrix: values must be [nnz = ", col_index.numel(), "], got ", values.sizes());
  SPHAERA_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
                "CsrMatrix: values must be float32 or float64, got ", values.scalar_type());
  SPHAERA_CHECK(row_ptr.device() == col_index.device() && col_index.device() == values.device(),
                "CsrMatrix: row_ptr, col_index and values must be on one device");
  if (row_ptr.device().is_cpu() && rows > 0) {
    const auto rp = row_ptr.contiguous();
    const int64_t* p = rp.data_ptr<int64_t>();
    SPHAERA_CHECK(p[0] == 0 && p[rows] == col_index.numel(),
                  "CsrMatrix: row_ptr must run from 0 to nnz = ", col_index.numel(), ", got ", p[0], " to ", p[rows]);
    for (int64_t r = 0; r < rows; ++r) {
      SPHAERA_CHECK(p[r] <= p[r + 1], "CsrMatrix: row_ptr decreases at row ", r);
    }
    if (col_index.numel() > 0) {
      const int64_t lo = col_index.min().item<int64_t>();
      const int64_t hi = col_index.max().item<int64_t>();
      SPHAERA_CHECK(lo >= 0 && hi < cols, "CsrMatrix: column index out of range [0, ", cols, "): ", lo, "..", hi);
    }
  }
}

// GCC vectors of L elements (a vector_size on a dependent type is ignored: one specialisation per type).
template <typename T, int L>
struct VectorOf;
template <int L>
struct VectorOf<float, L> {
  typedef float type __attribute__((vector_size(L * sizeof(float))));
};
template <int L>
struct VectorOf<double, L> {
  typedef double type __attribute__((vector_size(L * sizeof(double))));
};

// Columns [j0, j0 + K·L) of row r: the sum over the row's entries accumulates in K vectors of L elements held in
// registers, not in y, where a store and reload per entry would chain every entry's FMA behind the last; then
// y[r, j] = alpha · sum + beta · y[r, j] (beta = 0: y's old values unread).
template <typename T, int K, int L>
inline __attribute__((always_inline)) void csr_row_tile(int64_t e0, int64_t e1, const int32_t* col, const T* val,
                                                        const T* x, int64_t ldx, T* yr, int64_t j0, T alpha, T beta) {
  using Vec = typename VectorOf<T, L>::type;
  Vec acc[K];
  for (int k = 0; k < K; ++k) acc[k] = Vec{};
  for (int64_t e = e0; e < e1; ++e) {
    const T v = val[e];
    const T* xc = x + static_cast<int64_t>(col[e]) * ldx + j0;
    for (int k = 0; k < K; ++k) {
      Vec xv;
      std::memcpy(&xv, xc + k * L, sizeof(Vec));
      acc[k] += v * xv;
    }
  }
  for (int k = 0; k < K; ++k) {
    T* out = yr + j0 + k * L;
    Vec result = alpha * acc[k];
    if (beta != T(0)) {
      Vec old;
      std::memcpy(&old, out, sizeof(Vec));
      result += beta * old;
    }
    std::memcpy(out, &result, sizeof(Vec));
  }
}

// Rows [r0, r1) of y[r, :] = alpha · sum_e v[e] x[col[e], :] + beta · y[r, :] (beta = 0: y's old values unread),
// rows of x and y `ldx` and `ldy` elements apart (column slices of wider matrices). The N columns go in tiles of
// 4, 2 or 1 64-byte vectors, then of a half, a quarter, ... of one (N's binary digits), each held in registers
// over the row's entries. Inlined into one function per instruction-set level (core/simd.h).
template <typename T>
inline __attribute__((always_inline)) void csr_rows(const int64_t* row_ptr, const int32_t* col, const T* val,
                                                    const T* x, int64_t ldx, T* y, int64_t ldy, int64_t n, T alpha,
                                                    T beta, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    T* yr = y + r * ldy;
    const int64_t e0 = row_ptr[r], e1 = row_ptr[r + 1];
    constexpr int L = 64 / sizeof(T);  // one 64-byte vector: 16 floats, 8 doubles
    int64_t j0 = 0;
    for (; j0 + 4 * L <= n; j0 += 4 * L) csr_row_tile<T, 4, L>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta);
    if (n - j0 >= 2 * L) csr_row_tile<T, 2, L>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta), j0 += 2 * L;
    if (n - j0 >= L) csr_row_tile<T, 1, L>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta), j0 += L;
    if (n - j0 >= L / 2) csr_row_tile<T, 1, L / 2>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta), j0 += L / 2;
    if (n - j0 >= L / 4) csr_row_tile<T, 1, L / 4>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta), j0 += L / 4;
    if (n - j0 >= L / 8) csr_row_tile<T, 1, L / 8>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta), j0 += L / 8;
    if constexpr (L >= 16) {
      if (n - j0 >= 1) csr_row_tile<T, 1, 1>(e0, e1, col, val, x, ldx, yr, j0, alpha, beta);
    }
  }
}

template <typename T>
using CsrRowsFn = void (*)(const int64_t*, const int32_t*, const T*, const T*, int64_t, T*, int64_t, int64_t, T, T,
                           int64_t, int64_t);

#define SPHAERA_CSR_ROWS_ARGS                                                                                  \
  const int64_t *rp, const int32_t *col, const T *val, const T *x, int64_t ldx, T *y, int64_t ldy, int64_t n, \
      T alpha, T beta, int64_t r0, int64_t r1

template <typename T>
void csr_rows_generic(SPHAERA_CSR_ROWS_ARGS) {
  csr_rows<T>(rp, col, val, x, ldx, y, ldy, n, alpha, beta, r0, r1);
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename T>
__attribute__((target("avx2,fma"))) void csr_rows_avx2(SPHAERA_CSR_ROWS_ARGS) {
  csr_rows<T>(rp, col, val, x, ldx, y, ldy, n, alpha, beta, r0, r1);
}

template <typename T>
__attribute__((target("avx512f,avx512vl"))) void csr_rows_avx512(SPHAERA_CSR_ROWS_ARGS) {
  csr_rows<T>(rp, col, val, x, ldx, y, ldy, n, alpha, beta, r0, r1);
}
#endif
#undef SPHAERA_CSR_ROWS_ARGS

template <typename T>
CsrRowsFn<T> pick_csr_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (simd_level()) {
    case SimdLevel::kAvx512: return csr_rows_avx512<T>;
    case SimdLevel::kAvx2: return csr_rows_avx2<T>;
    default: break;
  }
#endif
  return csr_rows_generic<T>;
}

// y = alpha · A x + beta · y, blocks of rows in parallel.
template <typename T>
void csr_times_dense_cpu(const int64_t* row_ptr, const int32_t* col, const T* val, const T* x, int64_t ldx, T* y,
                         int64_t ldy, int64_t rows, int64_t n, T alpha, T beta) {
  const CsrRowsFn<T> kernel = pick_csr_rows<T>();
  constexpr int64_t kBlock = 256;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    kernel(row_ptr, col, val, x, ldx, y, ldy, n, alpha, beta, r0, std::min(rows, r0 + kBlock));
  }
}

// g_val[e] = <g[row(e), :], x[col(e), :]> for the entries of rows [r0, r1): each dot product accumulates in four
// 64-byte vectors (independent FMA chains), then one, then element by element; one horizontal sum (by halving) per entry.
template <typename T>
inline __attribute__((always_inline)) void value_grad_rows(const int64_t* row_ptr, const int32_t* col, const T* g,
                                                           const T* x, T* gv, int64_t n, int64_t r0, int64_t r1) {
  constexpr int L = 64 / sizeof(T);
  using Vec = typename VectorOf<T, L>::type;
  for (int64_t r = r0; r < r1; ++r) {
    const T* gr = g + r * n;
    for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; ++e) {
      const T* xc = x + static_cast<int64_t>(col[e]) * n;
      Vec acc[4] = {Vec{}, Vec{}, Vec{}, Vec{}};
      int64_t j = 0;
      Vec gk, xv;
      for (; j + 4 * L <= n; j += 4 * L) {
        for (int k = 0; k < 4; ++k) {
          std::memcpy(&gk, gr + j + k * L, sizeof(Vec));
          std::memcpy(&xv, xc + j + k * L, sizeof(Vec));
          acc[k] += gk * xv;
        }
      }
      for (; j + L <= n; j += L) {
        std::memcpy(&gk, gr + j, sizeof(Vec));
        std::memcpy(&xv, xc + j, sizeof(Vec));
        acc[0] += gk * xv;
      }
      const Vec sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      T half[L];  // horizontal sum by halving: log2(L) dependent adds, not L
      std::memcpy(half, &sum, sizeof(Vec));
      for (int w = L / 2; w >= 1; w /= 2) {
        for (int i = 0; i < w; ++i) half[i] += half[i + w];
      }
      T s = half[0];
      for (; j < n; ++j) s += gr[j] * xc[j];
      gv[e] = s;
    }
  }
}

template <typename T>
using ValueGradRowsFn = void (*)(const int64_t*, const int32_t*, const T*, const T*, T*, int64_t, int64_t, int64_t);

#define SPHAERA_VALUE_GRAD_ARGS \
  const int64_t *rp, const int32_t *col, const T *g, const T *x, T *gv, int64_t n, int64_t r0, int64_t r1

template <typename T>
void value_grad_rows_generic(SPHAERA_VALUE_GRAD_ARGS) {
  value_grad_rows<T>(rp, col, g, x, gv, n, r0, r1);
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename T>
__attribute__((target("avx2,fma"))) void value_grad_rows_avx2(SPHAERA_VALUE_GRAD_ARGS) {
  value_grad_rows<T>(rp, col, g, x, gv, n, r0, r1);
}

template <typename T>
__attribute__((target("avx512f,avx512vl"))) void value_grad_rows_avx512(SPHAERA_VALUE_GRAD_ARGS) {
  value_grad_rows<T>(rp, col, g, x, gv, n, r0, r1);
}
#endif
#undef SPHAERA_VALUE_GRAD_ARGS

template <typename T>
ValueGradRowsFn<T> pick_value_grad_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (simd_level()) {
    case SimdLevel::kAvx512: return value_grad_rows_avx512<T>;
    case SimdLevel::kAvx2: return value_grad_rows_avx2<T>;
    default: break;
  }
#endif
  return value_grad_rows_generic<T>;
}

// The values' gradient of y = A x given g = dL/dy, blocks of rows in parallel.
template <typename T>
void csr_value_grad_cpu(const int64_t* row_ptr, const int32_t* col, const T* g, const T* x, T* gv, int64_t rows,
                        int64_t n) {
  const ValueGradRowsFn<T> kernel = pick_value_grad_rows<T>();
  constexpr int64_t kBlock = 256;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    kernel(row_ptr, col, g, x, gv, n, r0, std::min(rows, r0 + kBlock));
  }
}

// The index arrays of one CSR pattern as the kernels of each device want them: int64 row pointers on the CPU,
// row pointers of the column indices' type for cuSPARSE.
struct Pattern {
  at::Tensor row_ptr;    // int64 [rows + 1]
  at::Tensor row_ptr32;  // int32 [rows + 1] (CUDA, nnz < 2^31), else undefined
  at::Tensor col;        // int32 [nnz]
  int64_t rows = 0;
  int64_t cols = 0;
  at::Tensor permutation;  // of a transpose: its entry -> the matrix's entry (transpose_permutation())
};

#ifdef SPHAERA_WITH_CUDA
// cuSPARSE's index arrays: both int32 when the row pointers fit, else both int64 (a copy per call: beyond
// 2^31 non-zeros only).
std::pair<at::Tensor, at::Tensor> cusparse_indices(const Pattern& p) {
  if (p.row_ptr32.defined()) return {p.row_ptr32, p.col};
  return {p.row_ptr, p.col.to(at::kLong)};
}
#endif

// Unit column stride, rows `stride(0)` apart: a column slice of a wider row-major matrix.
bool row_major(const at::Tensor& t) { return t.stride(1) == 1 && (t.size(0) <= 1 || t.stride(0) >= t.size(1)); }
int64_t leading_dimension(const at::Tensor& t) { return t.size(0) <= 1 ? t.size(1) : t.stride(0); }

// y ← alpha · A x + beta · y for A of pattern p (beta = 0: y's old values unread); x [cols, N], y [rows, N],
// y row_major.
void product_into(const Pattern& p, const at::Tensor& values, const at::Tensor& x_in, const at::Tensor& y,
                  double alpha, double beta) {
  const auto& row_ptr = p.row_ptr;
  const auto& col = p.col;
  const int64_t rows = p.rows;
#ifdef SPHAERA_WITH_CUDA
  if (x_in.device().is_cuda()) {
    const auto [rp, ci] = cusparse_indices(p);
    detail::cusparse_spmm_into(rp, ci, values, x_in, y, rows, p.cols, alpha, beta);
    return;
  }
#endif
  if (x_in.device().is_cpu()) {
    const at::Tensor x = row_major(x_in) ? x_in : x_in.contiguous();
    const at::Tensor vc = values.contiguous();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sphaera_spmm", [&] {
      csr_times_dense_cpu<scalar_t>(row_ptr.data_ptr<int64_t>(), col.data_ptr<int32_t>(), vc.data_ptr<scalar_t>(),
                                    x.data_ptr<scalar_t>(), leading_dimension(x), y.data_ptr<scalar_t>(),
                                    leading_dimension(y), rows, x.size(1), static_cast<scalar_t>(alpha),
                                    static_cast<scalar_t>(beta));
    });
    return;
  }
  // Other devices (and CUDA in a build without it): gather, scale, scatter-add with LibTorch's own kernels.
  const auto counts = row_ptr.slice(0, 1) - row_ptr.slice(0, 0, rows);
  const auto row_of = at::repeat_interleave(at::arange(rows, row_ptr.options()), counts);
  auto contrib = x_in.index_select(0, col.to(at::kLong)) * (values * alpha).unsqueeze(1);
  if (beta == 0) {
    y.zero_();
  } else if (beta != 1) {
    y.mul_(beta);
  }
  y.index_add_(0, row_of, contrib);
}

at::Tensor product(const Pattern& p, const at::Tensor& values, const at::Tensor& x) {
  auto y = at::empty({p.rows, x.size(1)}, x.options());
  product_into(p, values, x, y, 1.0, 0.0);
  return y;
}

at::Tensor value_grad(const Pattern& p, const at::Tensor& g, const at::Tensor& x) {
  const auto& row_ptr = p.row_ptr;
  const auto& col = p.col;
  const int64_t rows = p.rows;
#ifdef SPHAERA_WITH_CUDA
  if (x.device().is_cuda()) {
    const auto [rp, ci] = cusparse_indices(p);
    return detail::cusparse_value_grad(rp, ci, g, x, rows, p.cols);
  }
#endif
  if (x.device().is_cpu()) {
    auto gc = g.contiguous();
    auto xc = x.contiguous();
    auto gv = at::empty({col.numel()}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sphaera_spmm_value_grad", [&] {
      csr_value_grad_cpu<scalar_t>(row_ptr.data_ptr<int64_t>(), col.data_ptr<int32_t>(), gc.data_ptr<scalar_t>(),
                                   xc.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), rows, x.size(1));
    });
    return gv;
  }
  const auto counts = row_ptr.slice(0, 1) - row_ptr.slice(0, 0, rows);
  const auto row_of = at::repeat_interleave(at::arange(rows, row_ptr.options()), counts);
  return (g.index_select(0, row_of) * x.index_select(0, col.to(at::kLong))).sum(1);
}

void save_pattern(torch::autograd::AutogradContext* ctx, const std::string& prefix, const Pattern& p) {
  ctx->saved_data[prefix + "row_ptr"] = p.row_ptr;
  ctx->saved_data[prefix + "row_ptr32"] = p.row_ptr32;
  ctx->saved_data[prefix + "col"] = p.col;
  ctx->saved_data[prefix + "rows"] = p.rows;
  ctx->saved_data[prefix + "cols"] = p.cols;
  ctx->saved_data[prefix + "permutation"] = p.permutation;
}

Pattern load_pattern(torch::autograd::AutogradContext* ctx, const std::string& prefix) {
  Pattern p;
  p.row_ptr = ctx->saved_data[prefix + "row_ptr"].toTensor();
  const auto& rp32 = ctx->saved_data[prefix + "row_ptr32"];
  if (rp32.isTensor()) p.row_ptr32 = rp32.toTensor();
  p.col = ctx->saved_data[prefix + "col"].toTensor();
  p.rows = ctx->saved_data[prefix + "rows"].toInt();
  p.cols = ctx->saved_data[prefix + "cols"].toInt();
  const auto& permutation = ctx->saved_data[prefix + "permutation"];
  if (permutation.isTensor()) p.permutation = permutation.toTensor();
  return p;
}

// Autograd function: inputs (values, x); the pattern and its transpose (plain structs, so that autograd does
// not take their index tensors for inputs) travel in saved_data.
class SpmmFunction : public torch::autograd::Function<SpmmFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& values, const at::Tensor& x,
                            const Pattern& pattern, const Pattern& transposed) {
    save_pattern(ctx, "", pattern);
    if (x.requires_grad()) save_pattern(ctx, "t_", transposed);
    ctx->save_for_backward({values, x});
    at::NoGradGuard no_grad;
    return product(pattern, values, x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& values = saved[0];
    const at::Tensor& x = saved[1];
    const at::Tensor g = grad_outputs[0].contiguous();
    const Pattern pattern = load_pattern(ctx, "");
    at::Tensor grad_values;
    at::Tensor grad_x;
    // Second derivatives are not offered: the gradients below are computed without a graph. Autograd runs a
    // backward with grad mode on only when asked to build a graph of it (create_graph): refuse that clearly
    // instead of returning gradients that silently have no derivative.
    SPHAERA_CHECK(!at::GradMode::is_enabled(),
                  "spmm: second derivatives through the sparse product are not supported (backward was called with "
                  "create_graph=true, e.g. for a gradient penalty or double backward)");
    at::NoGradGuard no_grad;
    if (ctx->needs_input_grad(0)) {
      grad_values = value_grad(pattern, g, x);
    }
    if (ctx->needs_input_grad(1)) {
      const Pattern transposed = load_pattern(ctx, "t_");
      const auto t_values = values.index_select(0, transposed.permutation);
      grad_x = product(transposed, t_values, g);
    }
    return {grad_values, grad_x, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

CsrMatrix::CsrMatrix(int64_t rows, int64_t cols, at::Tensor row_ptr, at::Tensor col_index, at::Tensor values)
    : rows_(rows),
      cols_(cols),
      row_ptr_(std::move(row_ptr)),
      col_index_(std::move(col_index)),
      values_(std::move(values)),
      transpose_(std::make_shared<TransposeCache>()) {
  check_csr(rows_, cols_, row_ptr_, col_index_, values_);
}

CsrMatrix::CsrMatrix(Unchecked, int64_t rows, int64_t cols, at::Tensor row_ptr, at::Tensor col_index, at::Tensor values)
    : rows_(rows),
      cols_(cols),
      row_ptr_(std::move(row_ptr)),
      col_index_(std::move(col_index)),
      values_(std::move(values)),
      transpose_(std::make_shared<TransposeCache>()) {}

int64_t CsrMatrix::nnz() const { return col_index_.defined() ? col_index_.numel() : 0; }

CsrMatrix CsrMatrix::from_coo(int64_t rows, int64_t cols, const at::Tensor& row, const at::Tensor& col,
                              const at::Tensor& values) {
  SPHAERA_CHECK(row.dim() == 1 && col.dim() == 1 && values.dim() == 1 && row.numel() == col.numel() &&
                    col.numel() == values.numel(),
                "CsrMatrix::from_coo: row, col and values must be 1-D of one length, got ", row.sizes(), ", ",
                col.sizes(), ", ", values.sizes());
  const auto r = row.to(at::kLong);
  const auto c = col.to(at::kLong);
  if (r.numel() > 0) {
    SPHAERA_CHECK(r.min().item<int64_t>() >= 0 && r.max().item<int64_t>() < rows,
                  "CsrMatrix::from_coo: row index out of range [0, ", rows, ")");
    SPHAERA_CHECK(c.min().item<int64_t>() >= 0 && c.max().item<int64_t>() < cols,
                  "CsrMatrix::from_coo: column index out of range [0, ", cols, ")");
  }
  const auto key = r * cols + c;
  const auto order = std::get<1>(key.sort(/*stable=*/true, 0, false));
  const auto sorted_key = key.index_select(0, order);
  auto [unique_key, inverse] = at::_unique(sorted_key, /*sorted=*/true, /*return_inverse=*/true);
  auto summed = at::zeros({unique_key.numel()}, values.options()).index_add(0, inverse, values.index_select(0, order));
  const auto urow = unique_key.div(cols, "floor");
  const auto ucol = unique_key - urow * cols;
  auto row_ptr = at::zeros({rows + 1}, r.options());
  row_ptr.slice(0, 1).index_add_(0, urow, at::ones_like(urow));
  row_ptr = row_ptr.cumsum(0);
  return CsrMatrix(rows, cols, row_ptr, ucol.to(at::kInt), summed);
}

CsrMatrix CsrMatrix::from_dense(const at::Tensor& dense) {
  SPHAERA_CHECK(dense.dim() == 2, "CsrMatrix::from_dense: expected a 2-D tensor, got ", dense.sizes());
  const auto nz = dense.nonzero();
  const auto r = nz.select(1, 0).contiguous();
  const auto c = nz.select(1, 1).contiguous();
  return from_coo(dense.size(0), dense.size(1), r, c, dense.index({r, c}));
}

CsrMatrix CsrMatrix::identity(int64_t n, at::TensorOptions options) {
  const auto idx = at::arange(n, options.dtype(at::kLong));
  return CsrMatrix(n, n, at::arange(n + 1, options.dtype(at::kLong)), idx.to(at::kInt), at::ones({n}, options));
}

at::Tensor CsrMatrix::row_index() const {
  const auto counts = row_ptr_.slice(0, 1) - row_ptr_.slice(0, 0, rows_);
  return at::repeat_interleave(at::arange(rows_, row_ptr_.options()), counts);
}

CsrMatrix CsrMatrix::with_values(at::Tensor values) const {
  CsrMatrix out = *this;
  SPHAERA_CHECK(values.dim() == 1 && values.numel() == nnz() && values.device() == values_.device(),
                "CsrMatrix::with_values: expected [", nnz(), "] on ", values_.device(), ", got ", values.sizes(),
                " on ", values.device());
  SPHAERA_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
                "CsrMatrix: values must be float32 or float64, got ", values.scalar_type());
  out.values_ = std::move(values);  // the transpose cache depends on the pattern only: shared
  return out;
}

CsrMatrix CsrMatrix::to(at::Device device, at::ScalarType dtype) const {
  CsrMatrix out(Unchecked{}, rows_, cols_, row_ptr_.to(device), col_index_.to(device), values_.to(device, dtype));
  if (!device.is_cpu() && device != values_.device()) {
    // The transpose (for backward) is computed on the host: compute it here, once, and move it along, so
    // that no forward or backward on the device copies to the host.
    const TransposeCache& cache = transpose_cache();
    std::call_once(out.transpose_->once, [&] {
      out.transpose_->row_ptr = cache.row_ptr.to(device);
      out.transpose_->col_index = cache.col_index.to(device);
      out.transpose_->permutation = cache.permutation.to(device);
    });
  }
  return out;
}

void CsrMatrix::make_device_indices() const {
  const TransposeCache& cache = transpose_cache();
  std::call_once(transpose_->device_once, [&] {
    if (nnz() <= INT32_MAX) {
      transpose_->row_ptr32 = row_ptr_.to(at::kInt);
      transpose_->t_row_ptr32 = cache.row_ptr.to(at::kInt);
    }
  });
}

const CsrMatrix::TransposeCache& CsrMatrix::transpose_cache() const {
  SPHAERA_CHECK(transpose_ != nullptr, "CsrMatrix: transpose of an empty (default-constructed) matrix");
  // Counting sort of the entries by column gives the transpose's CSR and the entry permutation.
  std::call_once(transpose_->once, [this] {
    const auto cpu_rp = row_ptr_.cpu().contiguous();
    const auto cpu_col = col_index_.cpu().contiguous();
    auto t_rp = at::zeros({cols_ + 1}, at::kLong);
    auto t_col = at::empty({nnz()}, at::kInt);
    auto perm = at::empty({nnz()}, at::kLong);
    int64_t* trp = t_rp.data_ptr<int64_t>();
    const int64_t* rp = cpu_rp.data_ptr<int64_t>();
    const int32_t* col = cpu_col.data_ptr<int32_t>();
    for (int64_t e = 0; e < nnz(); ++e) ++trp[col[e] + 1];
    for (int64_t c = 0; c < cols_; ++c) trp[c + 1] += trp[c];
    std::vector<int64_t> next(trp, trp + cols_);
    int32_t* tc = t_col.data_ptr<int32_t>();
    int64_t* p = perm.data_ptr<int64_t>();
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t e = rp[r]; e < rp[r + 1]; ++e) {
        const int64_t slot = next[col[e]]++;
        tc[slot] = static_cast<int32_t>(r);
        p[slot] = e;
      }
    }
    const auto device = values_.device();
    transpose_->row_ptr = t_rp.to(device);
    transpose_->col_index = t_col.to(device);
    transpose_->permutation = perm.to(device);
  });
  return *transpose_;
}

CsrMatrix CsrMatrix::transpose() const {
  const auto& cache = transpose_cache();
  return CsrMatrix(Unchecked{}, cols_, rows_, cache.row_ptr, cache.col_index,
                   values_.index_select(0, cache.permutation));
}

const at::Tensor& CsrMatrix::transpose_permutation() const { return transpose_cache().permutation; }

at::Tensor CsrMatrix::to_dense() const {
  auto dense = at::zeros({rows_, cols_}, values_.options());
  dense.index_put_({row_index(), col_index_.to(at::kLong)}, values_, /*accumulate=*/true);
  return dense;
}

at::Tensor CsrMatrix::diagonal() const {
  const auto r = row_index();
  const auto c = col_index_.to(at::kLong);
  const auto on_diag = r.eq(c);
  auto diag = at::zeros({std::min(rows_, cols_)}, values_.options());
  diag.index_put_({r.masked_select(on_diag)}, values_.masked_select(on_diag), true);
  return diag;
}

int64_t CsrMatrix::storage_bytes() const {
  return row_ptr_.numel() * 8 + col_index_.numel() * 4 + values_.numel() * values_.element_size();
}

at::Tensor spmm(const CsrMatrix& a, const at::Tensor& x) {
  SPHAERA_CHECK(a.row_ptr().defined(), "spmm: empty (default-constructed) sparse matrix");
  SPHAERA_CHECK(x.dim() == 1 || x.dim() == 2, "spmm: x must be [cols] or [cols, N], got ", x.sizes());
  SPHAERA_CHECK(x.size(0) == a.cols(), "spmm: matrix is [", a.rows(), ", ", a.cols(), "] but x has ", x.size(0),
                " rows");
  SPHAERA_CHECK(x.scalar_type() == a.values().scalar_type(), "spmm: dtype mismatch: matrix ", a.values().scalar_type(),
                ", x ", x.scalar_type());
  SPHAERA_CHECK(x.device() == a.values().device(), "spmm: device mismatch: matrix on ", a.values().device(), ", x on ",
                x.device());
  const bool vector = x.dim() == 1;
  const auto x2 = vector ? x.unsqueeze(1) : x;
  const bool on_cuda = x.device().is_cuda();
  Pattern pattern{a.row_ptr(), {}, a.col_index(), a.rows(), a.cols(), {}};
  Pattern transposed;
  if (x2.requires_grad() || on_cuda) {
    const auto& cache = a.transpose_cache();
    transposed = Pattern{cache.row_ptr, {}, cache.col_index, a.cols(), a.rows(), cache.permutation};
    if (on_cuda) {
      a.make_device_indices();
      pattern.row_ptr32 = cache.row_ptr32;
      transposed.row_ptr32 = cache.t_row_ptr32;
    }
  }
  auto y = SpmmFunction::apply(a.values(), x2, pattern, transposed);
  return vector ? y.squeeze(1) : y;
}

void spmm_update(const CsrMatrix& a, const at::Tensor& x, const at::Tensor& y, double alpha, double beta,
                 bool transposed) {
  SPHAERA_CHECK(a.row_ptr().defined(), "spmm_update: empty (default-constructed) sparse matrix");
  const int64_t rows = transposed ? a.cols() : a.rows();
  const int64_t cols = transposed ? a.rows() : a.cols();
  SPHAERA_CHECK(x.dim() == 2 && x.size(0) == cols && y.dim() == 2 && y.size(0) == rows && y.size(1) == x.size(1),
                "spmm_update: ", transposed ? "the transpose of " : "", "a [", a.rows(), ", ", a.cols(),
                "] matrix takes x [", cols, ", N] to y [", rows, ", N], got x ", x.sizes(), " and y ", y.sizes());
  SPHAERA_CHECK(row_major(y), "spmm_update: y must be row-major with unit column stride (a contiguous matrix or a "
                "column slice of one), got strides ", y.strides());
  SPHAERA_CHECK(x.scalar_type() == a.values().scalar_type() && y.scalar_type() == x.scalar_type(),
                "spmm_update: dtype mismatch: matrix ", a.values().scalar_type(), ", x ", x.scalar_type(), ", y ",
                y.scalar_type());
  SPHAERA_CHECK(x.device() == a.values().device() && y.device() == x.device(), "spmm_update: device mismatch: matrix on ",
                a.values().device(), ", x on ", x.device(), ", y on ", y.device());
  const at::NoGradGuard no_grad;
  const bool on_cuda = x.device().is_cuda();
  if (!transposed) {
    Pattern pattern{a.row_ptr(), {}, a.col_index(), a.rows(), a.cols(), {}};
    if (on_cuda) {
      a.make_device_indices();
      pattern.row_ptr32 = a.transpose_cache().row_ptr32;
    }
    product_into(pattern, a.values(), x, y, alpha, beta);
    return;
  }
  const auto& cache = a.transpose_cache();
  Pattern pattern{cache.row_ptr, {}, cache.col_index, a.cols(), a.rows(), cache.permutation};
  if (on_cuda) {
    a.make_device_indices();
    pattern.row_ptr32 = cache.t_row_ptr32;
  }
  product_into(pattern, a.values().index_select(0, cache.permutation), x, y, alpha, beta);
}

CsrMatrix CsrMatrix::from_arrays(CsrArrays&& arrays) {
  auto held = std::make_shared<CsrArrays>(std::move(arrays));
  auto wrap = [&held](void* data, int64_t size, at::ScalarType type) {
    if (size == 0) return at::empty({0}, type);
    return at::from_blob(
        data, {size}, [held](void*) {}, at::TensorOptions().dtype(type));
  };
  const int64_t nnz = held->nnz();
  return CsrMatrix(held->rows, held->cols, wrap(held->row_ptr.data(), held->rows + 1, at::kLong),
                   wrap(held->col.data(), nnz, at::kInt), wrap(held->val.data(), nnz, at::kDouble));
}

CsrView CsrMatrix::view() const {
  SPHAERA_CHECK(row_ptr_.defined(), "CsrMatrix::view: empty (default-constructed) matrix");
  SPHAERA_CHECK(values_.device().is_cpu() && values_.scalar_type() == at::kDouble && row_ptr_.is_contiguous() &&
                    col_index_.is_contiguous() && values_.is_contiguous(),
                "CsrMatrix::view: needs contiguous float64 arrays on the CPU, got ", values_.scalar_type(), " on ",
                values_.device(), " (use .to(kCPU, kDouble))");
  return {rows_, cols_, row_ptr_.data_ptr<int64_t>(), col_index_.data_ptr<int32_t>(), values_.data_ptr<double>()};
}

}  // namespace sphaera::core
