#include "sphaera/data_tools/fits_file.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

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

namespace {

constexpr int64_t kBlock = 2880;  // FITS files are blocks of 2880 bytes; a header card is 80 bytes
constexpr int64_t kCard = 80;

// The value of an integer card ("NAXIS1  =                  512 / ..."), or nullopt when it is not one.
std::optional<int64_t> card_integer(const char* card) {
  if (card[8] != '=') return std::nullopt;
  const std::string value(card + 10, card + kCard);
  size_t i = value.find_first_not_of(' ');
  if (i == std::string::npos) return std::nullopt;
  const size_t end = value.find_first_of(" /", i);
  std::string digits = value.substr(i, end == std::string::npos ? std::string::npos : end - i);
  const bool negative = !digits.empty() && digits[0] == '-';
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.erase(0, 1);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int64_t v = std::strtoll(digits.c_str(), nullptr, 10);  // at most 18 digits: no overflow
  return negative ? -v : v;
}

// The value of a card as cfitsio 4.2 (Debian 12) would overrun a fixed buffer with it, aborting the process
// (glibc's fortify checks): it copies an unquoted TTYPEn filling the card into a 70-byte field, and quotes
// a value it cannot convert in an 81-byte message (a TSCALn, TZEROn, TNULLn, TBCOLn or THEAP that is not a
// number; an unquoted integer or real beyond 28 characters). FITS itself rules all of these out: names are
// quoted strings, numbers are at most 20 characters (fixed format) or a plain real in free format.
void check_card_value(const char* card, bool extension, bool binary, const std::string& path, int hdu,
                      int64_t index) {
  const char* end = card + kCard;
  const char* first = std::find_if(card + 10, end, [](char c) { return c != ' '; });
  if (first == end) return;  // no value
  const std::string key(card, std::find(card, card + 8, ' '));
  const auto fail = [&](const char* why) {
    SPHAERA_CHECK(false, path, ": HDU ", hdu, ", header card ", index, ": ", key, " ", why, " (corrupt header)");
  };
  const bool quoted = *first == '\'';
  const char* token_end = quoted ? end : std::find(first, end, '/');
  while (token_end > first && token_end[-1] == ' ') --token_end;
  const auto length = token_end - first;
  const auto is_number = [&] {
    return length <= 28 && std::all_of(first, token_end, [](char c) {
             return std::strchr("0123456789+-.EeDd", c) != nullptr && c != '\0';
           });
  };
  if (extension && key.compare(0, 5, "TTYPE") == 0) {
    if (!quoted) fail("is not a quoted string");
  } else if (extension && (key.compare(0, 5, "TSCAL") == 0 || key.compare(0, 5, "TZERO") == 0 ||
                           key == "THEAP" || (key.compare(0, 5, "TBCOL") == 0 && !binary) ||
                           (key.compare(0, 5, "TNULL") == 0 && binary))) {
    if (!is_number()) fail("is not a number");
  } else if (!quoted && *first != '(' && length > 28) {
    fail("is not a FITS value: an unquoted value of more than 28 characters");
  }
}

}  // namespace

// Every header is checked with check_card_value before cfitsio reads it. The headers are found by their sizes (BITPIX, NAXISn, PCOUNT, GCOUNT);
// where those cannot be read (a damaged header) every later block that starts with XTENSION is checked.
void check_table_headers(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;  // cfitsio's open reports it
  in.seekg(0, std::ios::end);
  const int64_t file_size = in.tellg();
  char card[kCard];

  // Checks the header at `offset` (HDU number `hdu`); returns the offset of the next one, or -1 when the
  // sizes do not say (no END, a missing or odd size keyword).
  const auto check_header = [&](int64_t offset, int hdu) -> int64_t {
    in.clear();
    in.seekg(offset);
    if (!in.read(card, kCard)) return -1;
    const bool extension = std::strncmp(card, "XTENSION", 8) == 0;
    const bool binary = extension && std::strncmp(card + 10, "'BINTABLE'", 10) == 0;
    int64_t bitpix = 0, naxis = -1, pcount = 0, gcount = 1, elements = 1;
    bool groups = false, sizes_ok = true;
    for (int64_t cards = 2;; ++cards) {
      if (!in.read(card, kCard)) return -1;
      const std::string key(card, card + 8);
      if (key == "END     ") {
        if (!sizes_ok || naxis < 0 || bitpix == 0 || pcount < 0 || gcount < 0) return -1;
        if (naxis == 0 && !groups) elements = 0;
        const int64_t words = pcount + elements;
        if (gcount != 0 && words > file_size / gcount) return -1;
        const int64_t header_bytes = (cards * kCard + kBlock - 1) / kBlock * kBlock;
        const int64_t data_bytes = std::abs(bitpix) / 8 * gcount * words;
        return offset + header_bytes + (data_bytes + kBlock - 1) / kBlock * kBlock;
      }
      if (card[8] != '=') continue;  // commentary (COMMENT, HISTORY, blank): no value
      const auto value = card_integer(card);
      if (key == "BITPIX  ") {
        bitpix = value.value_or(0);
      } else if (key == "NAXIS   ") {
        naxis = value.value_or(-1);
      } else if (key.compare(0, 5, "NAXIS") == 0) {
        const bool group_axis = key == "NAXIS1  " && value == 0;  // random groups: NAXIS1 = 0 is not a size
        if (!value || *value < 0 || (*value != 0 && elements > file_size / *value)) {
          sizes_ok = false;  // cfitsio refuses the HDU (or the data are beyond the file)
        } else if (!group_axis) {
          elements *= *value;
        }
      } else if (key == "PCOUNT  " && extension) {
        pcount = value.value_or(-1);
      } else if (key == "GCOUNT  " && extension) {
        gcount = value.value_or(-1);
      } else if (key == "GROUPS  ") {
        groups = card[29] == 'T';
      }
      check_card_value(card, extension, binary, path, hdu, cards);
    }
  };

  in.seekg(0);
  if (!in.read(card, 8) || std::strncmp(card, "SIMPLE  ", 8) != 0) return;  // not FITS: cfitsio says so
  int64_t offset = 0;
  int hdu = 1;
  for (; offset >= 0 && offset + kBlock <= file_size && hdu <= 100000; ++hdu) {
    const int64_t at = offset;
    offset = check_header(at, hdu);
    if (offset < 0) offset = -(at + kBlock);  // unwalkable: scan the blocks after this header's first
  }
  if (offset >= 0) return;
  for (int64_t block = -offset; block + kBlock <= file_size; block += kBlock) {
    in.clear();
    in.seekg(block);
    if (!in.read(card, 8)) return;
    if (std::strncmp(card, "XTENSION", 8) == 0) (void)check_header(block, hdu++);
  }
}

int try_open(const std::string& path, FitsFile& file) {
  check_table_headers(path);
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
