#include "sphaera/data_tools/matrix_market.h"

#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"

namespace sphaera::data_tools {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

// One "row col value\n" line; at most 2·11 + 24 + 3 characters.
constexpr size_t kMaxLine = 64;

inline char* format_entry(char* p, int64_t row, int64_t col, double value) {
  p = std::to_chars(p, p + 20, row + 1).ptr;
  *p++ = ' ';
  p = std::to_chars(p, p + 20, col + 1).ptr;
  *p++ = ' ';
  p = std::to_chars(p, p + 32, value, std::chars_format::scientific, 16).ptr;
  *p++ = '\n';
  return p;
}

}  // namespace

void write_matrix_market(const std::string& path, const core::CsrView& matrix, const MatrixMarketOptions& options) {
  SPHAERA_CHECK(matrix.row_ptr != nullptr, path, ": cannot write an empty (default-constructed) matrix");
  const bool symmetric = options.symmetry == MatrixMarketSymmetry::kSymmetric;
  SPHAERA_CHECK(!symmetric || matrix.rows == matrix.cols, path,
                ": a symmetric Matrix Market file needs a square "
                "matrix, got [",
                matrix.rows, ", ", matrix.cols, "]");
  const int64_t* rp = matrix.row_ptr;
  const int32_t* col = matrix.col;
  const double* val = matrix.val;
  const int64_t rows = matrix.rows;

  int64_t entries = matrix.nnz();
  if (symmetric) {
    entries = 0;
#pragma omp parallel for schedule(static) reduction(+ : entries) if (rows > 100000)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t e = rp[r]; e < rp[r + 1]; ++e) entries += col[e] <= r ? 1 : 0;
    }
  }

  AtomicFile out(path);
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(out.temporary().c_str(), "wb"));
  SPHAERA_CHECK(file != nullptr, path, ": cannot open for writing (", std::strerror(errno), ")");
  auto write = [&](const char* data, size_t size) {
    SPHAERA_CHECK(std::fwrite(data, 1, size, file.get()) == size, path, ": write failed (", std::strerror(errno), ")");
  };
  {
    std::ostringstream header;
    header << "%%MatrixMarket matrix coordinate real " << (symmetric ? "symmetric" : "general") << "\n";
    std::istringstream comment(options.comment);
    for (std::string line; std::getline(comment, line);) header << "%" << (line.empty() ? "" : " ") << line << "\n";
    header << rows << " " << matrix.cols << " " << entries << "\n";
    const std::string h = header.str();
    write(h.data(), h.size());
  }

  // Rows are cut into blocks of about kBlockEntries entries; a batch of blocks is formatted in parallel, then
  // written in order, so memory stays at a few buffers whatever the matrix size.
  constexpr int64_t kBlockEntries = int64_t{1} << 20;
  std::vector<int64_t> block_rows{0};  // first row of each block
  for (int64_t r = 0; r < rows;) {
    const int64_t target = rp[r] + kBlockEntries;
    const int64_t end = std::upper_bound(rp + r + 1, rp + rows + 1, target) - rp;
    r = std::max(r + 1, std::min(end, rows));
    block_rows.push_back(r);
  }
  const int64_t blocks = static_cast<int64_t>(block_rows.size()) - 1;
  const int threads = std::max(1, omp_get_max_threads());
  const int64_t batch = 2 * threads;
  std::vector<std::vector<char>> buffers(batch);
  std::vector<size_t> used(batch);
  for (int64_t first = 0; first < blocks; first += batch) {
    const int64_t count = std::min(batch, blocks - first);
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
    for (int64_t b = 0; b < count; ++b) {
      const int64_t r0 = block_rows[first + b];
      const int64_t r1 = block_rows[first + b + 1];
      auto& buf = buffers[b];
      buf.resize(static_cast<size_t>(rp[r1] - rp[r0]) * kMaxLine + 1);
      char* p = buf.data();
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t e = rp[r]; e < rp[r + 1]; ++e) {
          if (symmetric && col[e] > r) continue;
          p = format_entry(p, r, col[e], val[e]);
        }
      }
      used[b] = static_cast<size_t>(p - buf.data());
    }
    for (int64_t b = 0; b < count; ++b) write(buffers[b].data(), used[b]);
  }
  SPHAERA_CHECK(std::fflush(file.get()) == 0, path, ": write failed (", std::strerror(errno), ")");
  SPHAERA_CHECK(std::fclose(file.release()) == 0, path, ": closing failed (", std::strerror(errno), ")");
  out.commit();
}

}  // namespace sphaera::data_tools
