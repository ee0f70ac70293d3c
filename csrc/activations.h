// The math of every activation, written once for CPU lanes and CUDA threads:
//   math_scalar.h  the scalar vocabulary (select, comparisons, clamp), host and device
//   math_lanes.h   the same for SIMD lanes, and the CPU lane math (polynomials)
//   functors.h     one functor per activation, and the launchers' adapters
//   codec.h        the compact saved state of saved="mask" and "uint8"
//   composed.h     the gated and bias forms, composed of the functors
#pragma once

#include "codec.h"
#include "composed.h"
#include "functors.h"
