#pragma once
/// Manifests: CSV files listing a data set's samples, one per row, with a header row.
///
///   input,label                      input,label,variable,time
///   maps/a.fits,0                    era5.nc,masks/a.fits,t2m,2020-01-01T00:00
///   maps/b.fits,1
///
/// Columns: `input` (path of the map, relative to the manifest's directory unless absolute), `label` (an
/// integer class, or the path of a label map: a value ending in .fits, .fit, .fits.gz, .fz, .nc or .npy), and
/// optionally `variable` and `time` (for NetCDF inputs). Other columns are ignored. Fields may be quoted
/// ("a,b.fits", "" for a quote); blank lines are skipped; CRLF line ends and a UTF-8 BOM are accepted.
#include <cstdint>
#include <string>
#include <vector>

namespace sphaera::data_tools {

struct ManifestEntry {
  std::string input;      ///< path of the map, resolved (the manifest's directory joined with the CSV value)
  int64_t label = -1;     ///< integer class, or -1 when the label is a map
  std::string label_map;  ///< resolved path of the label map, or empty when the label is a class
  std::string variable;   ///< optional (empty when absent)
  std::string time;       ///< optional (empty when absent)
  int line = 0;           ///< read_manifest: the CSV line where the row starts (for error messages)
};

/// Reads a manifest. Throws core::InvalidArgument naming file:line on a missing file, an empty file or one
/// without rows, a header without `input` or `label`, a row with the wrong number of fields or an unclosed
/// quote, an empty `input` or `label`, or a label that is neither an integer nor a map path.
std::vector<ManifestEntry> read_manifest(const std::string& path);

/// Writes a manifest atomically (temporary file + rename). Inputs and label maps (paths as the caller sees
/// them, i.e. relative to the working directory or absolute) are written relative to the manifest's
/// directory, so that read_manifest resolves them back; `variable` and `time` columns are written
/// when some entry has them. Each entry needs a non-empty input and either label ≥ 0 or a label map.
void write_manifest(const std::string& path, const std::vector<ManifestEntry>& entries);

/// True when a label value names a map file rather than a class (by its extension, see above).
bool is_label_map_path(const std::string& value);

}  // namespace sphaera::data_tools
