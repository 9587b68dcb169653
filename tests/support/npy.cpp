#include "tests/support/npy.h"

#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

namespace sphaera::testing {

at::Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("load_npy: cannot open " + path);
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error("load_npy: not an .npy file: " + path);
  unsigned char version[2];
  in.read(reinterpret_cast<char*>(version), 2);
  uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  auto field = [&](const std::string& key) {
    auto pos = header.find("'" + key + "'");
    if (pos == std::string::npos) throw std::runtime_error("load_npy: no " + key + " in " + path);
    return header.substr(header.find(':', pos) + 1);
  };
  std::string descr = field("descr");
  descr = descr.substr(descr.find('\'') + 1);
  descr = descr.substr(0, descr.find('\''));
  if (field("fortran_order").find("False") == std::string::npos) {
    throw std::runtime_error("load_npy: Fortran order not supported: " + path);
  }
  std::string shape_text = field("shape");
  shape_text = shape_text.substr(shape_text.find('(') + 1);
  shape_text = shape_text.substr(0, shape_text.find(')'));
  std::vector<int64_t> shape;
  size_t pos = 0;
  while (pos < shape_text.size()) {
    size_t next = shape_text.find(',', pos);
    std::string item = shape_text.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (item.find_first_of("0123456789") != std::string::npos) shape.push_back(std::stoll(item));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  at::ScalarType dtype;
  if (descr == "<f8") dtype = at::kDouble;
  else if (descr == "<f4") dtype = at::kFloat;
  else if (descr == "<i8") dtype = at::kLong;
  else if (descr == "<i4") dtype = at::kInt;
  else if (descr == "|b1") dtype = at::kBool;
  else throw std::runtime_error("load_npy: unsupported dtype " + descr + " in " + path);
  auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
  in.read(reinterpret_cast<char*>(t.data_ptr()), t.numel() * t.element_size());
  if (!in) throw std::runtime_error("load_npy: truncated data in " + path);
  return t;
}

std::string test_data(const std::string& relative) { return std::string(SPHAERA_TEST_DATA_DIR) + "/" + relative; }

double relative_error(const at::Tensor& a, const at::Tensor& b) {
  // Complex tensors compare as complex (a cast to double would drop the imaginary parts).
  const auto type = a.is_complex() || b.is_complex() ? at::kComplexDouble : at::kDouble;
  auto a64 = a.detach().to(type);
  auto b64 = b.detach().to(type);
  return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
}

}  // namespace sphaera::testing
