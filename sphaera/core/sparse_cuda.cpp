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

void make_dense(DenseDescriptor& m, const at::Tensor& t) {  // t [r, c] contiguous, row-major
  check_cusparse(cusparseCreateDnMat(&m.d, t.size(0), t.size(1), t.size(1), t.data_ptr(), value_type(t.scalar_type()),
                                     CUSPARSE_ORDER_ROW),
                 "cusparseCreateDnMat");
}

// alpha = 1, beta = 0 in the compute type (host pointers: the handle's default pointer mode).
struct UnitScalars {
  explicit UnitScalars(at::ScalarType t)
      : compute(value_type(t)),
        alpha(t == at::kFloat ? static_cast<const void*>(&one32) : static_cast<const void*>(&one64)),
        beta(t == at::kFloat ? static_cast<const void*>(&zero32) : static_cast<const void*>(&zero64)) {}
  UnitScalars(const UnitScalars&) = delete;
  const float one32 = 1.0f, zero32 = 0.0f;
  const double one64 = 1.0, zero64 = 0.0;
  const cudaDataType compute;
  const void* const alpha;
  const void* const beta;
};

}  // namespace

at::Tensor cusparse_spmm(const at::Tensor& row_ptr, const at::Tensor& col, const at::Tensor& values_in,
                         const at::Tensor& x_in, int64_t rows, int64_t cols) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor values = values_in.contiguous();  // a view (with_values of a slice) would have strides
  const int64_t n = x.size(1);
  if (rows == 0 || n == 0 || col.numel() == 0) return at::zeros({rows, n}, x.options());
  at::Tensor y = at::empty({rows, n}, x.options());
  SparseDescriptor a;
  DenseDescriptor b, c;
  make_csr(a, row_ptr, col, values, rows, cols);
  make_dense(b, x);
  make_dense(c, y);
  const UnitScalars k(x.scalar_type());
  cusparseHandle_t handle = at::cuda::getCurrentCUDASparseHandle();  // bound to the current stream
  size_t bytes = 0;
  check_cusparse(cusparseSpMM_bufferSize(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                         k.alpha, a.d, b.d, k.beta, c.d, k.compute, CUSPARSE_SPMM_ALG_DEFAULT, &bytes),
                 "cusparseSpMM_bufferSize");
  at::Tensor buffer = at::empty({static_cast<int64_t>(bytes)}, x.options().dtype(at::kByte));
  check_cusparse(cusparseSpMM(handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, k.alpha, a.d,
                              b.d, k.beta, c.d, k.compute, CUSPARSE_SPMM_ALG_DEFAULT, buffer.data_ptr()),
                 "cusparseSpMM");
  return y;
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
  const UnitScalars k(x.scalar_type());
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
