// Fuzz target: the Matrix Market writer (sphaera/data_tools/matrix_market.h), by round trip.
//
// The input decodes into a small valid CSR matrix (decode() below: rows, cols, sorted distinct column
// indices per row, float64 values drawn from raw bits, a table of special values — subnormals, ±0, ±inf,
// NaN, extremes — small integers or float32 values) and an optional comment. The matrix is written with each
// symmetry option, and the file is parsed back by the small parser here, independent of the writer (strtod,
// not std::from_chars), which checks the banner, the comment lines, the size line and every entry, in order.
//
// Values: finite values must read back bit for bit (17 significant digits, "d.dddddddddddddddde±XX", -0.0
// keeps its sign). Matrix Market has no spelling for non-finite values; the writer emits std::to_chars's
// "inf", "-inf", "nan" and "-nan" (the sign of NaN kept, its payload dropped), which strtod, scipy.io.mmread
// and Python's float() read back: the check wants exactly these words. A symmetric file holds the lower
// triangle (row >= col) only; a non-square matrix must be refused with core::InvalidArgument, leaving no file.
// Any mismatch aborts (a finding).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "sphaera/core/check.h"
#include "sphaera/core/csr_arrays.h"
#include "sphaera/data_tools/matrix_market.h"
#include "tests/fuzz/fuzz_common.h"

using sphaera::core::InvalidArgument;
namespace dt = sphaera::data_tools;
namespace fs = std::filesystem;

namespace {

struct Input {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint64_t bytes(int count) {
    uint64_t v = 0;
    for (int i = 0; i < count; ++i) v = v << 8 | byte();
    return v;
  }
};

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> col;
  std::vector<double> val;
  std::string comment;
};

double special_value(uint8_t k) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double table[] = {0.0,
                          -0.0,
                          inf,
                          -inf,
                          std::numeric_limits<double>::quiet_NaN(),
                          -std::numeric_limits<double>::quiet_NaN(),
                          std::numeric_limits<double>::signaling_NaN(),
                          std::numeric_limits<double>::denorm_min(),
                          -std::numeric_limits<double>::denorm_min(),
                          std::numeric_limits<double>::min(),
                          std::nextafter(std::numeric_limits<double>::min(), 0.0),  // largest subnormal
                          std::numeric_limits<double>::max(),
                          -std::numeric_limits<double>::max(),
                          std::numeric_limits<double>::epsilon(),
                          1.0,
                          -1.0,
                          0.1,
                          1.0 / 3.0,
                          5e-324 * 3,
                          9007199254740993.0,  // 2^53 + 1 (rounds to 2^53)
                          1e308,
                          1e-308,
                          123456789012345678.0,
                          static_cast<double>(std::numeric_limits<float>::max()),
                          static_cast<double>(std::numeric_limits<float>::denorm_min())};
  return table[k % (sizeof(table) / sizeof(table[0]))];
}

// Input layout: [rows % 33] [flags] [cols bytes...] then per row [count] and per entry [gap] [kind] [value
// bytes]; with flag 2 the last byte is a length L (mod 49) and the L bytes before it are the comment. Decoding
// stops cleanly when the input ends.
Matrix decode(const uint8_t* data, size_t size) {
  Input in{data, size};
  Matrix m;
  const uint8_t flags = size > 1 ? data[1] : 0;
  if ((flags & 2) != 0 && size > 3) {
    const size_t c = std::min<size_t>(data[size - 1] % 49, size - 3);
    m.comment.assign(reinterpret_cast<const char*>(data + size - 1 - c), c);
    in.n -= c + 1;
  }
  m.rows = in.byte() % 33;
  in.byte();  // flags
  if ((flags & 1) != 0) {
    m.cols = m.rows;
  } else if ((flags & 4) != 0) {
    m.cols = static_cast<int64_t>(in.bytes(4) & 0x7fffffff);  // wide: up to 2^31 - 1 columns
  } else {
    m.cols = in.byte() % 33;
  }
  for (int64_t r = 0; r < m.rows; ++r) {
    const int count = m.cols == 0 ? 0 : in.byte() % 9;
    int64_t c = -1;
    for (int k = 0; k < count && !in.empty(); ++k) {
      const uint64_t gap = (flags & 4) != 0 ? in.bytes(3) : in.byte() % 8;
      if (c + 1 + static_cast<int64_t>(gap) >= m.cols) break;
      c += 1 + static_cast<int64_t>(gap);
      double v = 0;
      const uint8_t kind = in.byte();
      switch (kind % 4) {
        case 0: {
          const uint64_t bits = in.bytes(8);
          std::memcpy(&v, &bits, 8);
          break;
        }
        case 1:
          v = special_value(in.byte());
          break;
        case 2:
          v = static_cast<double>(static_cast<int8_t>(in.byte()));
          break;
        default: {
          const uint32_t bits = static_cast<uint32_t>(in.bytes(4));
          float f;
          std::memcpy(&f, &bits, 4);
          v = static_cast<double>(f);
          break;
        }
      }
      m.col.push_back(static_cast<int32_t>(c));
      m.val.push_back(v);
    }
    m.row_ptr.push_back(static_cast<int64_t>(m.col.size()));
  }
  return m;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FUZZ_ASSERT(in.good(), "cannot read back %s", path.c_str());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A decimal integer written without sign or leading zeros.
bool parse_index(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// "d.dddddddddddddddde+XX" (or e-, 2 or 3 exponent digits), optionally negative.
bool is_scientific_17(const std::string& s) {
  size_t i = s[0] == '-' ? 1 : 0;
  if (s.size() < i + 18 + 3) return false;
  if (!std::isdigit(static_cast<unsigned char>(s[i])) || s[i + 1] != '.') return false;
  for (size_t k = i + 2; k < i + 18; ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  if (s[i + 18] != 'e' || (s[i + 19] != '+' && s[i + 19] != '-')) return false;
  const size_t digits = s.size() - (i + 20);
  if (digits < 2 || digits > 3) return false;
  for (size_t k = i + 20; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  return true;
}

void check_value(const std::string& token, double expected, int64_t line) {
  if (std::isnan(expected)) {
    FUZZ_ASSERT(token == (std::signbit(expected) ? "-nan" : "nan"), "line %lld: NaN written as '%s'",
                static_cast<long long>(line), token.c_str());
  } else if (std::isinf(expected)) {
    FUZZ_ASSERT(token == (expected < 0 ? "-inf" : "inf"), "line %lld: %g written as '%s'",
                static_cast<long long>(line), expected, token.c_str());
  } else {
    FUZZ_ASSERT(is_scientific_17(token), "line %lld: %.17g written as '%s' (not 17 significant digits)",
                static_cast<long long>(line), expected, token.c_str());
  }
  char* end = nullptr;
  const double got = std::strtod(token.c_str(), &end);
  FUZZ_ASSERT(end == token.c_str() + token.size(), "line %lld: value '%s' does not parse",
              static_cast<long long>(line), token.c_str());
  if (std::isnan(expected)) {
    FUZZ_ASSERT(std::isnan(got) && std::signbit(got) == std::signbit(expected), "line %lld: '%s' is not the NaN",
                static_cast<long long>(line), token.c_str());
  } else {
    FUZZ_ASSERT(std::memcmp(&got, &expected, sizeof got) == 0, "line %lld: %.17g written as '%s', reads %.17g",
                static_cast<long long>(line), expected, token.c_str(), got);
  }
}

void check_file(const std::string& text, const Matrix& m, bool symmetric) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    FUZZ_ASSERT(end != std::string::npos, "the file does not end with a line end");
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  size_t l = 0;
  FUZZ_ASSERT(!lines.empty() && lines[l++] == std::string("%%MatrixMarket matrix coordinate real ") +
                                                 (symmetric ? "symmetric" : "general"),
              "bad banner");
  // The comment: one '%' line per line of it (as std::getline splits it), "% text" or "%" when empty.
  std::istringstream comment(m.comment);
  for (std::string c; std::getline(comment, c);) {
    FUZZ_ASSERT(l < lines.size() && lines[l] == "%" + (c.empty() ? "" : " " + c), "comment line %zu differs", l);
    ++l;
  }
  std::vector<int64_t> er, ec;
  std::vector<double> ev;
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t e = m.row_ptr[r]; e < m.row_ptr[r + 1]; ++e) {
      if (symmetric && m.col[e] > r) continue;
      er.push_back(r + 1);
      ec.push_back(m.col[e] + 1);
      ev.push_back(m.val[e]);
    }
  FUZZ_ASSERT(l < lines.size(), "no size line");
  {
    std::istringstream size_line(lines[l]);
    std::string a, b, c, extra;
    size_line >> a >> b >> c >> extra;
    int64_t rows = -1, cols = -1, entries = -1;
    FUZZ_ASSERT(parse_index(a, rows) && parse_index(b, cols) && parse_index(c, entries) && extra.empty() &&
                    lines[l] == a + " " + b + " " + c,
                "bad size line '%s'", lines[l].c_str());
    FUZZ_ASSERT(rows == m.rows && cols == m.cols && entries == static_cast<int64_t>(ev.size()),
                "size line '%s', expected %lld %lld %zu", lines[l].c_str(), static_cast<long long>(m.rows),
                static_cast<long long>(m.cols), ev.size());
    ++l;
  }
  FUZZ_ASSERT(lines.size() - l == ev.size(), "%zu entry lines, expected %zu", lines.size() - l, ev.size());
  for (size_t k = 0; k < ev.size(); ++k, ++l) {
    const std::string& line = lines[l];
    const size_t s1 = line.find(' '), s2 = s1 == std::string::npos ? s1 : line.find(' ', s1 + 1);
    FUZZ_ASSERT(s2 != std::string::npos && line.find(' ', s2 + 1) == std::string::npos, "bad entry line '%s'",
                line.c_str());
    int64_t r = 0, c = 0;
    FUZZ_ASSERT(parse_index(line.substr(0, s1), r) && parse_index(line.substr(s1 + 1, s2 - s1 - 1), c),
                "bad indices in '%s'", line.c_str());
    FUZZ_ASSERT(r == er[k] && c == ec[k], "entry %zu at (%lld, %lld), expected (%lld, %lld)", k,
                static_cast<long long>(r), static_cast<long long>(c), static_cast<long long>(er[k]),
                static_cast<long long>(ec[k]));
    check_value(line.substr(s2 + 1), ev[k], static_cast<int64_t>(l + 1));
  }
}

// Only the target file is left in the directory (no temporary of AtomicFile).
void check_directory(const std::string& dir, const std::string& expected) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    FUZZ_ASSERT(name == expected, "stray file %s in the output directory", name.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = sphaera::fuzz::scratch_path("mm");
  static const std::string path = dir + "/m.mtx";
  const Matrix m = decode(data, size);
  sphaera::core::CsrView view{m.rows, m.cols, m.row_ptr.data(), m.col.data(), m.val.data()};
  for (const bool symmetric : {false, true}) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    dt::MatrixMarketOptions options;
    options.symmetry = symmetric ? dt::MatrixMarketSymmetry::kSymmetric : dt::MatrixMarketSymmetry::kGeneral;
    options.comment = m.comment;
    if (symmetric && m.rows != m.cols) {
      bool refused = false;
      try {
        dt::write_matrix_market(path, view, options);
      } catch (const InvalidArgument&) {
        refused = true;
      }
      FUZZ_ASSERT(refused && !fs::exists(path), "a symmetric file of a %lldx%lld matrix was written",
                  static_cast<long long>(m.rows), static_cast<long long>(m.cols));
      continue;
    }
    dt::write_matrix_market(path, view, options);  // must not throw: the matrix is valid, the directory writable
    check_directory(dir, "m.mtx");
    check_file(read_all(path), m, symmetric);
  }
  return 0;
}
