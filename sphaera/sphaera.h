#pragma once
/// Sphaera umbrella header: everything a C++ user needs (link Sphaera::sphaera).
#include "sphaera/core/check.h"
#include "sphaera/core/runtime.h"
#include "sphaera/core/sparse.h"
