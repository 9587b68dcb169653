#include "sphaera/core/sparse_cuda.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cusparse.h>

#include "sphaera/core/check.h"

namespace sphaera::core::detail {

namespace {

void check_cusparse(cusparseStatus_t status, const char* what) {
  SPHAERA_CHECK(status == CUSPARSE_STATUS_SUCCESS, "cuSPARSE ", what, " failed: ", cusparseGetErrorString(status));
}

cudaDataType value_type(at::ScalarType t) {
  SPHAERA_CHECK(t == at::kFloat || t == at::kDouble, "cuSPARSE products take float32 or float64, got ", t);
  return t == at::kFloat ? CUDA_R_32F : CUDA_R_64F;
}

cusparseIndexType_t index_type(const at::Tensor& row_ptr, const at::Tensor& col) {
  SPHAERA_CHECK(
      row_ptr.scalar_type() == col.scalar_type() && (col.scalar_type() == at::kInt || col.scalar_type() == at::kLong),
      "cuSPARSE wants row offsets and column indices of one type (int32 or int64), got ", row_ptr.scalar_type(),
      " and ", col.scalar_type());
  return col.scalar_type() == at::kInt ? CUSPARSE_INDEX_32I : CUSPARSE_INDEX_64I;
}

// RAII holders of the descriptors, so an exception between create and destroy leaks nothing.
struct SparseDescriptor {
  cusparseSpMatDescr_t d = nullptr;
  ~SparseDescriptor() {
    if (d) cusparseDestroySpMat(d);
  }
};
struct DenseDescriptor {
  cusparseDnMatDescr_t d = nullptr;
  ~DenseDescriptor() {
    if (d) cusparseDestroyDnMat(d);
  }
};

// The CSR descriptor of A; cuSPARSE takes non-const pointers even where it only reads.
void make_csr(SparseDescriptor& a, const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values,
              int64_t rows, int64_t cols) {
  const auto it = index_type(row_ptr, col);
  check_cusparse(cusparseCreateCsr(&a.d, rows, cols, col.numel(), row_ptr.data_ptr(), col.data_ptr(), values.data_ptr(),
                                   it, it, CUSPARSE_INDEX_BASE_ZERO, value_type(values.scalar_type())),
                 "cusparseCreateCsr");
}

// t [r, c] row-major: unit column stride, rows `stride(0)` apart (a column slice of a wider matrix).
bool row_major(const at::Tensor& t) { return t.stride(1) == 1 && (t.size(0) <= 1 || t.stride(0) >= t.size(1)); }

void make_dense(DenseDescriptor& m, const at::Tensor& t) {  // t row_major
  const int64_t ld = t.size(0) <= 1 ? t.size(1) : t.stride(0);
  check_cusparse(cusparseCreateDnMat(&m.d, t.size(0), t.size(1), ld, t.data_ptr(), value_type(t.scalar_type()),
                                     CUSPARSE_ORDER_ROW),
                 "cusparseCreateDnMat");
}

// alpha and beta in the compute type (host pointers: the handle's default pointer mode).
struct Scalars {
  Scalars(at::ScalarType t, double a, double b)
      : compute(value_type(t)),
        alpha32(static_cast<float>(a)),
        beta32(static_cast<float>(b)),
        alpha64(a),
        beta64(b),
        alpha(t == at::kFloat ? static_cast<const void*>(&alpha32) : static_cast<const void*>(&alpha64)),
        beta(t == at::kFloat ? static_cast<const void*>(&beta32) : static_cast<const void*>(&beta64)) {}
  explicit Scalars(at::ScalarType t) : Scalars(t, 1.0, 0.0) {}
  Scalars(const Scalars&) = delete;
  const cudaDataType compute;
  const float alpha32, beta32;
  const double alpha64, beta64;
  const void* const alpha;
  const void* const beta;
};

}  // namespace

at::Tensor cusparse_spmm(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values,
                         const at::Tensor& x, int64_t rows, int64_t cols) {
  at::Tensor y = at::empty({rows, x.size(1)}, x.options());
  cusparse_spmm_into(row_ptr, col, values, x, y, rows, cols, 1.0, 0.0);
  return y;
}

void cusparse_spmm_into(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values_in,
                        const at::Tensor& x_in, const at::Tensor& y, int64_t rows, int64_t cols, double alpha,
                        double beta) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = row_major(x_in) ? x_in : x_in.contiguous();
  const at::Tensor values = values_in.contiguous();  // a view (with_values of a slice) would have strides
  const int64_t n = x.size(1);
  if (rows == 0 || n == 0) return;
  TORCH_INTERNAL_ASSERT(row_major(y), "cusparse_spmm_into: y must have unit column stride");
  if (col.numel() == 0) {  // cuSPARSE is not asked about an empty matrix: y ← beta · y
    if (beta == 0) {
      y.zero_();
    } else {
      y.mul_(beta);
    }
    return;
  }
  SparseDescriptor a;
  DenseDescriptor b, c;
  make_csr(a, row_ptr, col, values, rows, cols);
  make_dense(b, x);
  make_dense(c, y);
  if (beta == 0) y.zero_();  // cuSPARSE reads C even with beta = 0 in some algorithms: no NaN from old values
  const Scalars k(x.scalar_type(), alpha, beta);
  cusparseHandle_t handle = at::cuda::getCurrentCUDASparseHandle();  // bound to the current stream
  size_t bytes = 0;
  check_cusparse(cusparseSpMM_bufferSize(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                         k.alpha, a.d, b.d, k.beta, c.d, k.compute, CUSPARSE_SPMM_ALG_DEFAULT, &bytes),
                 "cusparseSpMM_bufferSize");
  at::Tensor buffer = at::empty({static_cast<int64_t>(bytes)}, x.options().dtype(at::kByte));
  check_cusparse(cusparseSpMM(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, k.alpha, a.d,
                              b.d, k.beta, c.d, k.compute, CUSPARSE_SPMM_ALG_DEFAULT, buffer.data_ptr()),
                 "cusparseSpMM");
}

at::Tensor cusparse_value_grad(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& g_in,
                               const at::Tensor& x_in, int64_t rows, int64_t cols) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor g = g_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  at::Tensor grad = at::zeros({col.numel()}, x.options());
  if (rows == 0 || col.numel() == 0 || x.size(1) == 0) return grad;
  // C = (g · xᵀ) ∘ spy(A): A's pattern, values written into `grad`.
  SparseDescriptor c;
  DenseDescriptor da, db;
  make_csr(c, row_ptr, col, grad, rows, cols);
  make_dense(da, g);  // [rows, N]
  make_dense(db, x);  // [cols, N], used transposed
  const Scalars k(x.scalar_type());
  cusparseHandle_t handle = at::cuda::getCurrentCUDASparseHandle();
  size_t bytes = 0;
  check_cusparse(
      cusparseSDDMM_bufferSize(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_TRANSPOSE, k.alpha, da.d,
                               db.d, k.beta, c.d, k.compute, CUSPARSE_SDDMM_ALG_DEFAULT, &bytes),
      "cusparseSDDMM_bufferSize");
  at::Tensor buffer = at::empty({static_cast<int64_t>(bytes)}, x.options().dtype(at::kByte));
  check_cusparse(cusparseSDDMM(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_TRANSPOSE, k.alpha, da.d,
                               db.d, k.beta, c.d, k.compute, CUSPARSE_SDDMM_ALG_DEFAULT, buffer.data_ptr()),
                 "cusparseSDDMM");
  return grad;
}

}  // namespace sphaera::core::detail
