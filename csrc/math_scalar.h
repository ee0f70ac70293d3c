// The scalar vocabulary of the functors (csrc/functors.h), host and device:
// select, ordered comparisons, clamp and the like, written so that a NaN
// either falls into an arithmetic branch or is put back.
#pragma once


#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>
#include <c10/util/string_view.h>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>


namespace torch_activations {

enum class Saved { Input, Output };

// The unit roundoff of float32: storage types at least this precise keep an
// output whose rounding no derivative computed from it magnifies past float
// tolerance (ELU's tail).
constexpr double kFloatRoundoff = 0x1p-24;

namespace math {

// ---- scalar vocabulary: host and device ---------------------------------
template <class T>
C10_HOST_DEVICE inline T select(bool cond, T a, T b) { return cond ? a : b; }
// Lane comparisons, for select: the functors compare through these rather
// than with operators, so that AVX-512 keeps the mask in a k register (a
// mask taken through a vector and back costs more there than an exp).
template <class T> C10_HOST_DEVICE inline auto lt(T a, T b) { return a < b; }
template <class T> C10_HOST_DEVICE inline auto gt(T a, T b) { return a > b; }
template <class T> C10_HOST_DEVICE inline auto le(T a, T b) { return a <= b; }
template <class T> C10_HOST_DEVICE inline auto ge(T a, T b) { return a >= b; }
template <class T> C10_HOST_DEVICE inline auto eq(T a, T b) { return a == b; }
C10_HOST_DEVICE inline bool is_nan(float x) { return x != x; }
C10_HOST_DEVICE inline bool is_nan(double x) { return x != x; }
C10_HOST_DEVICE inline float exp(float x) { return ::expf(x); }
C10_HOST_DEVICE inline double exp(double x) { return ::exp(x); }
// exp(x) for x <= 0: the SIMD lanes have a cheaper one; here it is exp
C10_HOST_DEVICE inline float exp_nonpositive(float x) { return ::expf(x); }
C10_HOST_DEVICE inline double exp_nonpositive(double x) { return ::exp(x); }
// exp(x) * 2^64 for x in [-105.2, 0]: normal even where exp(x) is subnormal
// (the SIMD lanes skip the subnormal step of exp); callers scale back last.
constexpr float kTwo64 = 18446744073709551616.f, kTwoMinus64 = 5.42101086242752217e-20f;
C10_HOST_DEVICE inline float exp_times_2_64(float x) { return ::expf(x) * kTwo64; }
C10_HOST_DEVICE inline float expm1(float x) { return ::expm1f(x); }
C10_HOST_DEVICE inline double expm1(double x) { return ::expm1(x); }
C10_HOST_DEVICE inline float log(float x) { return ::logf(x); }
C10_HOST_DEVICE inline double log(double x) { return ::log(x); }
C10_HOST_DEVICE inline float tanh(float x) { return ::tanhf(x); }
C10_HOST_DEVICE inline double tanh(double x) { return ::tanh(x); }
C10_HOST_DEVICE inline double erfc(double x) { return ::erfc(x); }
C10_HOST_DEVICE inline float abs(float x) { return ::fabsf(x); }
C10_HOST_DEVICE inline double abs(double x) { return ::fabs(x); }
C10_HOST_DEVICE inline float fma(float a, float b, float c) { return ::fmaf(a, b, c); }
C10_HOST_DEVICE inline double fma(double a, double b, double c) { return ::fma(a, b, c); }
// a * b - p exactly, for p = a * b rounded: the rounding error of a product
C10_HOST_DEVICE inline float product_error(float a, float b, float p) { return ::fmaf(a, b, -p); }
// log1p(u) where the caller knows u is in [0, 1] (float lanes specialise it)
C10_HOST_DEVICE inline float log1p_unit(float u) { return ::log1pf(u); }
C10_HOST_DEVICE inline double log1p_unit(double u) { return ::log1p(u); }
// NaN-propagating clamp, as ATen's clamp/hardtanh.
template <class T>
C10_HOST_DEVICE inline T clamp(T x, T lo, T hi) {
  return x != x ? x : (x < lo ? lo : (x > hi ? hi : x));
}

// clamp for a range whose ends are not zero (where it may differ from
// clamp in the sign of a zero result); the argument range of exp and
// friends. The SIMD lanes specialise it with fewer instructions.
template <class T>
C10_HOST_DEVICE inline T bound(T x, T lo, T hi) { return math::clamp(x, lo, hi); }

}  // namespace math

}  // namespace torch_activations
