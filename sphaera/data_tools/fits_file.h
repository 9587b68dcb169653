#pragma once
/// Internal to data_tools: the cfitsio plumbing shared by the FITS readers and writers (healpix_fits.cpp,
/// alm_fits.cpp). Not part of the public API (it exposes cfitsio's types).
#include <fitsio.h>

#include <optional>
#include <string>

namespace sphaera::data_tools::fits {

/// cfitsio's text for a status code, with the code: "could not open the named file (cfitsio status 104)".
std::string error_text(int status);

/// Owns an open fitsfile; closes it on scope exit, errors ignored (reads already succeeded or threw).
class FitsFile {
 public:
  FitsFile() = default;
  ~FitsFile() { close(); }
  FitsFile(const FitsFile&) = delete;
  FitsFile& operator=(const FitsFile&) = delete;
  /// Where cfitsio's open and create functions store the handle.
  fitsfile** out() { return &file_; }
  fitsfile* get() const { return file_; }
  /// Closes explicitly and reports the cfitsio status: a write only counts once it is flushed.
  int close();

 private:
  fitsfile* file_ = nullptr;
};

/// Throws core::InvalidArgument "PATH: no such file" or "PATH: is a directory, not a FITS file".
void check_exists(const std::string& path);

/// Opens `path` read-only and returns the cfitsio status (0 on success). The disk-file variant takes the name
/// literally (no cfitsio extended syntax such as "file.fits[1]"). Throws core::InvalidArgument naming the
/// file, HDU and card for a table header that would overrun cfitsio's buffers (check_table_headers).
int try_open(const std::string& path, FitsFile& file);

/// Throws core::InvalidArgument naming the file, HDU and card when a header of `path` holds a keyword value
/// cfitsio 4.2 would overrun a buffer with (the process would abort): an unquoted TTYPEn, a table scaling or
/// null keyword that is not a number, an unquoted value of more than 28 characters.
void check_table_headers(const std::string& path);

/// `s` without blanks, in upper case: how keyword values and column names are compared.
std::string upper_trimmed(std::string s);

/// A string keyword of the current HDU, or nullopt when it is absent.
std::optional<std::string> read_string_key(fitsfile* f, const std::string& key);

/// An integer keyword of the current HDU, nullopt when it is absent; throws core::InvalidArgument
/// "WHERE: keyword KEY is not an integer: ..." when it is present but not an integer.
std::optional<long long> read_integer_key(fitsfile* f, const char* key, const std::string& where);

/// A real numeric column type code (what healpy's fields and HEALPix's readers convert to numbers): not a
/// string, logical, bit or complex column.
bool is_real_numeric(int type);

/// Creates `temporary` (the AtomicFile's temporary of `path`) as a FITS file with an empty primary image, the
/// start of every table file Sphaera writes; throws naming `path`. Returns the CFITSIO status (0).
int create_with_empty_primary(FitsFile& file, const std::string& temporary, const std::string& path);

}  // namespace sphaera::data_tools::fits
