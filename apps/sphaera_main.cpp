// The `sphaera` command line. The verbs map2alm, alm2map and graph need no LibTorch and run here; every
// other verb, and --help, is run by the full command line in libsphaera_train (sphaera/train/cli.cpp lists
// them all), loaded on demand: loading LibTorch alone takes 0.6 s, longer than a small transform.
#include <dlfcn.h>

#include <cstdio>
#include <string>

#include "sphaera/train/cli_base.h"

int main(int argc, char** argv) {
  if (argc >= 2 && sphaera::train::is_base_verb(argv[1])) return sphaera::train::run_base_cli(argc, argv);

  // Found through this executable's RUNPATH (the build tree, or ../lib once installed).
  void* library = dlopen(SPHAERA_TRAIN_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::fprintf(stderr, "sphaera: error: cannot load the command line library %s: %s\n", SPHAERA_TRAIN_LIBRARY,
                 dlerror());
    return 1;
  }
  using RunCli = int (*)(int, char**);
  auto run_cli = reinterpret_cast<RunCli>(dlsym(library, "sphaera_run_cli"));
  if (run_cli == nullptr) {
    std::fprintf(stderr, "sphaera: error: %s has no sphaera_run_cli: %s\n", SPHAERA_TRAIN_LIBRARY, dlerror());
    return 1;
  }
  return run_cli(argc, argv);
}
