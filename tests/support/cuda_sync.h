#pragma once
/// Runs code under CUDA's synchronisation debug mode set to "error": a copy between the device and pageable
/// host memory (a `.cpu()`, an `.item()`, a host tensor moved to the device), or any other synchronisation of
/// the host with the device, throws inside it. Tests use it to show that a layer's forward and backward on
/// CUDA never go back to the host.
#include <functional>

namespace sphaera::testing {

/// Runs f with host synchronisations as errors (throws c10::Error at the first); restores the mode after.
/// In a build without CUDA it only runs f (no CUDA test reaches it there: they skip without a device).
void run_without_host_sync(const std::function<void()>& f);

}  // namespace sphaera::testing
