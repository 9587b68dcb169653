#include "tests/support/cuda_sync.h"

#ifdef SPHAERA_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace sphaera::testing {

void run_without_host_sync(const std::function<void()>& f) {
#ifdef SPHAERA_WITH_CUDA
  auto& state = c10::cuda::warning_state();
  const auto previous = state.get_sync_debug_mode();
  state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
  try {
    f();
  } catch (...) {
    state.set_sync_debug_mode(previous);
    throw;
  }
  state.set_sync_debug_mode(previous);
#else
  f();
#endif
}

}  // namespace sphaera::testing
