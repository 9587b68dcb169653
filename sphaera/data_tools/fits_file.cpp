#include "sphaera/data_tools/fits_file.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "sphaera/core/check.h"

namespace fs = std::filesystem;

namespace sphaera::data_tools::fits {

std::string error_text(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  return std::string(text) + " (cfitsio status " + std::to_string(status) + ")";
}

int FitsFile::close() {
  int status = 0;
  if (file_ != nullptr) fits_close_file(file_, &status);
  file_ = nullptr;
  return status;
}

void check_exists(const std::string& path) {
  std::error_code ec;
  SPHAERA_CHECK(fs::exists(path, ec), path, ": no such file");
  SPHAERA_CHECK(!fs::is_directory(path, ec), path, ": is a directory, not a FITS file");
}

int try_open(const std::string& path, FitsFile& file) {
  int status = 0;
  fits_open_diskfile(file.out(), path.c_str(), READONLY, &status);
  return status;
}

std::string upper_trimmed(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; }), s.end());
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::optional<std::string> read_string_key(fitsfile* f, const std::string& key) {
  char value[FLEN_VALUE] = {0};
  int status = 0;
  fits_read_key(f, TSTRING, key.c_str(), value, nullptr, &status);
  if (status != 0) return std::nullopt;
  return std::string(value);
}

std::optional<long long> read_integer_key(fitsfile* f, const char* key, const std::string& where) {
  long long value = 0;
  int status = 0;
  fits_read_key(f, TLONGLONG, key, &value, nullptr, &status);
  if (status == KEY_NO_EXIST) return std::nullopt;
  SPHAERA_CHECK(status == 0, where, ": keyword ", key, " is not an integer: ", error_text(status));
  return value;
}

bool is_real_numeric(int type) {
  return type > 0 && type != TSTRING && type != TLOGICAL && type != TBIT && type != TCOMPLEX && type != TDBLCOMPLEX;
}

int create_with_empty_primary(FitsFile& file, const std::string& temporary, const std::string& path) {
  int status = 0;
  fits_create_diskfile(file.out(), temporary.c_str(), &status);
  SPHAERA_CHECK(status == 0, path, ": cannot create the file: ", error_text(status));
  fits_create_img(file.get(), BYTE_IMG, 0, nullptr, &status);
  return status;
}

}  // namespace sphaera::data_tools::fits
