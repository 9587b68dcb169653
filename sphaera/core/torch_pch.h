// Precompiled header for every Sphaera library: the torch headers take most of each compile.
#pragma once
#include <torch/torch.h>
