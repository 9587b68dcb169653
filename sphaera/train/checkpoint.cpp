#include "sphaera/train/checkpoint.h"

#include <filesystem>

#include <torch/torch.h>

#include "sphaera/core/check.h"
#include "sphaera/data_tools/atomic_file.h"

namespace sphaera::train {

void save_checkpoint(const std::string& path, const torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  archive.write("sphaera_meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  // Serialised in memory, then written with checked writes: LibTorch's own file writer terminates the process
  // when a write fails (disk full, file size limit), from a destructor.
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  data_tools::write_bytes_atomic(path, bytes);
}

namespace {
torch::serialize::InputArchive open_archive(const std::string& path) {
  SPHAERA_CHECK(std::filesystem::is_regular_file(path), path, ": no such checkpoint file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw core::InvalidArgument(path + ": not a Sphaera checkpoint (cannot be read as a LibTorch archive)");
  }
  return archive;
}
}  // namespace

nlohmann::json read_checkpoint_meta(const std::string& path) {
  auto archive = open_archive(path);
  c10::IValue value;
  SPHAERA_CHECK(archive.try_read("sphaera_meta", value) && value.isString(), path,
                ": not a Sphaera checkpoint (no metadata)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(value.toStringRef());
  } catch (const std::exception&) {
    throw core::InvalidArgument(path + ": corrupt checkpoint metadata");
  }
  const int version = meta.value("format_version", 0);
  SPHAERA_CHECK(version >= 1 && version <= kCheckpointFormatVersion, path, ": checkpoint format version ", version,
                " is not supported (this build reads 1..", kCheckpointFormatVersion, ")");
  return meta;
}

void load_checkpoint_state(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  auto archive = open_archive(path);
  torch::serialize::InputArchive model_archive;
  SPHAERA_CHECK(archive.try_read("model", model_archive), path, ": checkpoint holds no model weights");
  try {
    model.load(model_archive);
  } catch (const c10::Error& e) {
    throw core::InvalidArgument(path + ": the weights do not fit the model its config describes: " +
                                e.what_without_backtrace());
  }
  if (optimizer != nullptr) {
    torch::serialize::InputArchive optimizer_archive;
    SPHAERA_CHECK(archive.try_read("optimizer", optimizer_archive), path, ": checkpoint holds no optimiser state");
    optimizer->load(optimizer_archive);
  }
}

}  // namespace sphaera::train
