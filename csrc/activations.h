// The math of every activation, written once.
//
// Each activation is a small struct templated on its compute type T (float for
// float/half/bfloat16, double for double). Its methods are templated on the
// value type V, which is either T itself (CUDA threads) or
// at::vec::Vectorized<T> (CPU SIMD lanes, tails included), so the CPU and the
// GPU run the very same formula.
//
// Pointwise activations provide
//   V forward(V x)
//   V backward(V grad, V saved)   saved is the input or the output, per saves()
//   Saved saves(double u) const   what backward keeps for these parameters, for
//                                 a storage type of unit roundoff u (2^-24 in
//                                 float32): the output wherever the derivative
//                                 follows from it to that precision
// and, where the derivative has one formula in the input and another in the
// output, V backward_from_output(V grad, V y) beside backward(grad, x).
// Channel-wise activations (a learnable parameter w per channel) provide
//   V forward(V x, V w), V grad_input(V g, V x, V w), V grad_weight(V g, V x, V w)
//
// Non-finite inputs follow one policy (the README's numerical notes): at +-inf
// an op gives its limit and the limit of its derivative (gelu(-inf) = 0 with
// gradient 0, not NaN from 0 * inf); a NaN input gives a NaN output and a NaN
// gradient in every op, so that anomaly detection sees it. Branches are
// written with math::select and ordered comparisons (false on NaN), so a NaN
// either falls into an arithmetic branch or is put back with math::keep_nan.
// Every formula is also written so that no intermediate overflows for a
// finite input (no exp(x) that overflows where the result does not, no x * x
// where the result is finite).
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>
#include <c10/util/string_view.h>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#if !defined(__CUDACC__)
#include <ATen/cpu/vec/vec.h>
#endif

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

#if !defined(__CUDACC__)
// ---- the same vocabulary for SIMD lanes (CPU only) ----------------------
using at::vec::Vectorized;
// Every lane function is inlined: an out-of-line call spills all vector
// registers around it, which costs more than the call's own work (GCC would
// otherwise keep exp out of line in the larger functors).
#define TA_LANE_INLINE inline __attribute__((always_inline))
template <class T>
TA_LANE_INLINE Vectorized<T> select(const Vectorized<T>& mask, const Vectorized<T>& a,
                                     const Vectorized<T>& b) {
  return Vectorized<T>::blendv(b, a, mask);
}
template <class T> inline Vectorized<T> is_nan(const Vectorized<T>& x) { return x.isnan(); }
template <class T> inline Vectorized<T> exp(const Vectorized<T>& x) { return x.exp(); }
template <class T> inline Vectorized<T> expm1(const Vectorized<T>& x) { return x.expm1(); }
template <class T> inline Vectorized<T> tanh(const Vectorized<T>& x) { return x.tanh(); }
template <class T> inline Vectorized<T> erfc(const Vectorized<T>& x) { return x.erfc(); }
template <class T> inline Vectorized<T> abs(const Vectorized<T>& x) { return x.abs(); }
template <class T> inline Vectorized<T> log1p_unit(const Vectorized<T>& u) { return u.log1p(); }
template <class T>
TA_LANE_INLINE Vectorized<T> fma(const Vectorized<T>& a, const Vectorized<T>& b, const Vectorized<T>& c) {
  return at::vec::fmadd(a, b, c);  // double lanes: rounds a * b first in the x86 default build
}
template <class T>
TA_LANE_INLINE Vectorized<T> clamp(const Vectorized<T>& x, const Vectorized<T>& lo,
                                    const Vectorized<T>& hi) {
  return at::vec::minimum(at::vec::maximum(x, lo), hi);  // both propagate NaN
}
template <class T>
TA_LANE_INLINE Vectorized<T> bound(const Vectorized<T>& x, const Vectorized<T>& lo,
                                    const Vectorized<T>& hi) {
  return math::clamp(x, lo, hi);
}

using VecF = Vectorized<float>;

#if defined(CPU_CAPABILITY_AVX512)
struct LaneMask {
  __mmask16 k;
};
TA_LANE_INLINE LaneMask lt(const VecF& a, const VecF& b) { return {_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)}; }
TA_LANE_INLINE LaneMask gt(const VecF& a, const VecF& b) { return {_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)}; }
TA_LANE_INLINE LaneMask le(const VecF& a, const VecF& b) { return {_mm512_cmp_ps_mask(a, b, _CMP_LE_OQ)}; }
TA_LANE_INLINE LaneMask ge(const VecF& a, const VecF& b) { return {_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)}; }
TA_LANE_INLINE LaneMask eq(const VecF& a, const VecF& b) { return {_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)}; }
TA_LANE_INLINE LaneMask is_nan(const VecF& x) { return {_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q)}; }
TA_LANE_INLINE VecF select(LaneMask m, const VecF& a, const VecF& b) { return _mm512_mask_blend_ps(m.k, b, a); }
#elif !defined(CPU_CAPABILITY_AVX2) && !defined(__aarch64__)
// The x86 default build's Vectorized is a plain array whose compares and
// blends branch on every lane (a mispredicted branch per element on data of
// both signs): here they are straight-line loops over the lanes' bits, which
// the compiler turns into SSE2 compares and ands.
constexpr int kLanes = VecF::size();
template <class Predicate>
TA_LANE_INLINE VecF lane_mask(const VecF& a, const VecF& b, Predicate predicate) {
  float av[kLanes], bv[kLanes];
  int32_t mask[kLanes];
  a.store(av), b.store(bv);
  for (int i = 0; i < kLanes; ++i) mask[i] = -int32_t(predicate(av[i], bv[i]));
  return VecF::loadu(mask);
}
TA_LANE_INLINE VecF lt(const VecF& a, const VecF& b) { return lane_mask(a, b, [](float p, float q) { return p < q; }); }
TA_LANE_INLINE VecF gt(const VecF& a, const VecF& b) { return lane_mask(a, b, [](float p, float q) { return p > q; }); }
TA_LANE_INLINE VecF le(const VecF& a, const VecF& b) { return lane_mask(a, b, [](float p, float q) { return p <= q; }); }
TA_LANE_INLINE VecF ge(const VecF& a, const VecF& b) { return lane_mask(a, b, [](float p, float q) { return p >= q; }); }
TA_LANE_INLINE VecF eq(const VecF& a, const VecF& b) { return lane_mask(a, b, [](float p, float q) { return p == q; }); }
TA_LANE_INLINE VecF is_nan(const VecF& x) { return lane_mask(x, x, [](float p, float q) { return p != q; }); }
// Bitwise, through Vectorized's own operators: a lane loop written here is
// miscompiled by GCC 12's SLP vectorizer next to the double-precision fma
// below (upper lanes of a loop's last step off by an ulp).
TA_LANE_INLINE VecF select(const VecF& mask, const VecF& a, const VecF& b) { return b ^ ((a ^ b) & mask); }
#endif

// float lanes (float, half and bfloat16 inputs) get their own exp, expm1,
// tanh and log1p: as accurate as Sleef's (about 1 ulp) and cheaper, with
// polynomials fitted by scripts/fit_coefficients.py. double keeps Sleef.
using VecF = Vectorized<float>;

// a * b + c rounded once. Where Vectorized has no fused multiply-add (the
// x86 default build rounds a * b first), each lane computes it in double, in
// which a float product is exact, so every build gets the same accuracy.
TA_LANE_INLINE VecF fma(const VecF& a, const VecF& b, const VecF& c) {
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
  return at::vec::fmadd(a, b, c);
#else
  constexpr int kSize = VecF::size();
  float av[kSize], bv[kSize], cv[kSize];
  a.store(av), b.store(bv), c.store(cv);
  for (int i = 0; i < kSize; ++i) av[i] = float(double(av[i]) * double(bv[i]) + double(cv[i]));
  return VecF::loadu(av);
#endif
}

// x86 min/max return their second operand where either is NaN, so with x
// second a NaN passes through without the compare and blend that
// at::vec::minimum / maximum spend on it.
TA_LANE_INLINE VecF bound(const VecF& x, const VecF& lo, const VecF& hi) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_min_ps(hi, _mm512_max_ps(lo, x));
#elif defined(CPU_CAPABILITY_AVX2)
  return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
#else
  return math::clamp(x, lo, hi);
#endif
}

TA_LANE_INLINE VecF product_error(const VecF& a, const VecF& b, const VecF& p) {
  return math::fma(a, b, VecF(0.f) - p);
}

// c0 + x * (c1 + x * (c2 + ...)): Horner's rule with fused multiply-adds.
TA_LANE_INLINE VecF polynomial(const VecF& /*x*/, float c) { return VecF(c); }
template <class... C>
TA_LANE_INLINE VecF polynomial(const VecF& x, float c0, C... higher) {
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
  return math::fma(x, polynomial(x, higher...), VecF(c0));
#else
  // No fused multiply-add: Horner's rule in double, where each step's
  // rounding is far below float's, converted once each way.
  const float coefficients[] = {c0, float(higher)...};
  constexpr int kTerms = sizeof...(C) + 1;
  float lanes[VecF::size()];
  x.store(lanes);
  for (int i = 0; i < VecF::size(); ++i) {
    double sum = coefficients[kTerms - 1];
    for (int k = kTerms - 2; k >= 0; --k) sum = sum * lanes[i] + coefficients[k];
    lanes[i] = float(sum);
  }
  return VecF::loadu(lanes);
#endif
}

// 2^n for integral n in [-126, 127], from its exponent bits.
TA_LANE_INLINE VecF pow2i(VecF n) {
#if !defined(CPU_CAPABILITY_AVX2) && !defined(CPU_CAPABILITY_AVX512)
  n = n & math::eq(n, n);  // converting NaN to int is undefined in C++ (the SIMD builds' cvtt is defined)
#endif
  const VecF biased = at::vec::fmadd(n, VecF(8388608.f), VecF(127.f * 8388608.f));  // (n + 127) << 23
  return at::vec::cast<float>(at::vec::convert_to_int_of_same_size(biased));
}

// x rounded to the nearest integer (ties to even), for |x| < 2^22. The x86
// default build has no rounding instruction (SSE2), where Vectorized::round
// calls nearbyintf per lane: adding and taking away 1.5 * 2^23 rounds instead.
TA_LANE_INLINE VecF round_small(const VecF& x) {
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512) || defined(__aarch64__)
  return x.round();
#else
  return (x + VecF(12582912.f)) - VecF(12582912.f);
#endif
}

// x = n ln2 + r with |r| <= ln2 / 2 (Cody and Waite: ln2 in two parts, the
// first short enough that n * kLn2Hi is exact).
constexpr float kLog2e = 1.44269502f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860677e-06f;
TA_LANE_INLINE VecF reduce_ln2(const VecF& x, const VecF& n) {
  return at::vec::fnmadd(n, VecF(kLn2Lo), at::vec::fnmadd(n, VecF(kLn2Hi), x));
}

// exp(x) = 2^n p with p = exp(r), r = x - n ln2: the reduction and the
// polynomial that every exp below shares; they differ in how 2^n is applied.
struct ExpSplit {
  VecF n, p;
};
TA_LANE_INLINE ExpSplit exp_split(const VecF& x) {
  const VecF n = round_small(x * VecF(kLog2e));
  return {n, polynomial(reduce_ln2(x, n), 1.f, 1.f, 0.49999994f, 0.166665226f, 0.0416682921f,
                        0.00836853217f, 0.00138182961f)};
}

// exp(x) = 2^n exp(r); 2^n applied in two halves so that results in the
// subnormal range round once and overflow gives inf. Max error 0.9 ulp.
TA_LANE_INLINE VecF exp(const VecF& x) {
  const auto [n, p] = exp_split(math::bound(x, VecF(-104.5f), VecF(89.f)));  // beyond: 0 and inf
  const VecF n1 = round_small(n * VecF(0.5f) - VecF(0.25f));  // floor(n / 2), for n integral
  return p * pow2i(n1) * pow2i(n - n1);
}

// expm1(x) = 2^n expm1(r) + (2^n - 1): no cancellation near 0. Max error
// 1.3 ulp; n stops at 127, so above 88.4 (where expm1 is exp) r outgrows the
// fitted range and the error grows to 9 ulps before the result overflows.
TA_LANE_INLINE VecF expm1(const VecF& x) {
  const VecF xc = math::bound(x, VecF(-87.f), VecF(89.f));  // below -87 the result is -1
  const VecF n = math::bound(round_small(xc * VecF(kLog2e)), VecF(-127.f), VecF(127.f));
  const VecF r = reduce_ln2(xc, n);
  const VecF q = math::fma(r * r, polynomial(r, 0.5f, 0.166666657f, 0.0416664928f, 0.00833354797f,
                                              0.00139323086f, 0.000197601912f), r);
  const VecF s = pow2i(n);
  return at::vec::fmadd(s, q, s - VecF(1.f));
}

// exp(x) * 2^64 for x in [-105.2, 0] (the caller's range): n + 64 stays in
// pow2i's range, so one pow2i does.
TA_LANE_INLINE VecF exp_times_2_64(const VecF& x) {
  const auto [n, p] = exp_split(x);
  return p * pow2i(n + VecF(64.f));
}

// exp(x) for x >= 0 (or NaN), for tanh: no result is subnormal, so one
// pow2i does; x stops at 88, where exp is still finite and tanh is 1.
TA_LANE_INLINE VecF exp_nonnegative(const VecF& x) {
  const auto [n, p] = exp_split(math::bound(x, VecF(0.f), VecF(88.f)));
  return p * pow2i(n);
}

// tanh: an odd polynomial below |x| = 0.75, 1 - 2 / (exp(2|x|) + 1) above
// (where it is at least 0.63, so the subtraction loses nothing), x's sign
// bit put back with an or. Max error 1.1 ulp.
TA_LANE_INLINE VecF tanh(const VecF& x) {
  const VecF a = x.abs(), x2 = x * x;
  const VecF small = math::fma(x * x2, polynomial(x2, -0.333333313f, 0.133332491f, -0.0539560616f,
                                                  0.0217847712f, -0.0085418541f, 0.00289467257f,
                                                  -0.000592812197f), x);
  const VecF large = VecF(1.f) - VecF(2.f) / (exp_nonnegative(a + a) + VecF(1.f));
  return math::select(math::lt(a, VecF(0.75f)), small, large | (x & VecF(-0.f)));
}

// log1p(u) on [0, 1] as 2 atanh(s) = 2 (s + s^3 / 3 + ...), s = u / (2 + u)
// <= 1/3: positive terms, no cancellation. s is corrected for the rounding
// of 2 + u and of the quotient, so that little but the last addition
// rounds: max error 1.2 ulp.
TA_LANE_INLINE VecF log1p_unit(const VecF& u) {
  const VecF w = VecF(2.f) + u, r = VecF(1.f) / w, s0 = u * r;
  const VecF dw = u - (w - VecF(2.f));  // 2 + u = w + dw exactly (2 >= u)
  const VecF s = s0 + (math::fma(VecF(0.f) - s0, w, u) - s0 * dw) * r;
  const VecF s2 = s * s;
  const VecF tail = s * s2 * polynomial(s2, 1.f / 3, 1.f / 5, 1.f / 7, 1.f / 9, 1.f / 11, 1.f / 13);
  return VecF(2.f) * (s + tail);
}
#endif

// exp(a - b) with the rounding error of a - b (TwoSum) put back, so that a
// large difference keeps exp's accuracy: softmax's exp(x - max). The error is
// NaN, and left out, where the difference is infinite.
template <class V>
C10_HOST_DEVICE inline V exp_difference(V a, V b) {
  const V d = a - b, a1 = d + b, b1 = d - a1;
  const V err = (a - a1) + ((V(0) - b) - b1);
  const V e = math::exp(d);
  return math::fma(e, math::select(math::eq(err, err), err, V(0)), e);
}

// NaN where x is NaN, r elsewhere.
template <class V>
C10_HOST_DEVICE inline V keep_nan(V x, V r) { return math::select(math::is_nan(x), x, r); }

// x * f where f vanishes at an infinite x faster than x grows: 0 where f is
// 0, even for x = +-inf (the limit, where 0 * inf would give NaN). Callers
// derive f from x, so a NaN x has already made f NaN.
template <class V>
C10_HOST_DEVICE inline V times_vanishing(V x, V f) { return math::select(math::eq(f, V(0)), f, x * f); }

// sigmoid(z) and 1 - sigmoid(z), each without cancellation and with no
// overflow: from e = exp(-|z|), sigmoid is 1 / (1 + e) or e / (1 + e).
template <class V>
struct SigmoidPair {
  V s, sc;  // sigmoid(z), 1 - sigmoid(z)
};
template <class V>
C10_HOST_DEVICE inline SigmoidPair<V> sigmoid_pair_from(V z, V e) {
  const V r = V(1) / (V(1) + e), small = e * r;
  const auto negative = math::lt(z, V(0));
  return {math::select(negative, small, r), math::select(negative, r, small)};
}
template <class V>
C10_HOST_DEVICE inline V sigmoid(V z) {
  const V e = math::exp(V(0) - math::abs(z));
  return math::select(math::lt(z, V(0)), e, V(1)) / (V(1) + e);
}

// x * sigmoid(z + dz), dz a known rounding error of z (used if kCorrected):
// x / (1 + exp(-z)), or x exp(z) where exp(-z) would overflow (z < -80) and
// x exp(z) is the value to the precision of float: one exp, three roundings.
template <bool kCorrected = false, class V>
C10_HOST_DEVICE inline V times_sigmoid(V x, V z, V dz = V(0)) {
  const auto far = math::lt(z, V(-80));
  V e = math::exp(math::select(far, z, V(0) - z));
  if constexpr (kCorrected) e = math::fma(e, math::select(far, dz, V(0) - dz), e);
  return math::select(far, math::times_vanishing(x, e), x / (V(1) + e));
}

// log(1 + exp(z)) as max(z, 0) + log1p(exp(-|z|)): exp cannot overflow and
// log1p sees only [0, 1]. NaN comes through exp.
template <class V>
C10_HOST_DEVICE inline V log1p_exp(V z) {
  return math::select(math::gt(z, V(0)), z, V(0)) + math::log1p_unit(math::exp(V(0) - math::abs(z)));
}

}  // namespace math

// ---------------------------------------------------------------------------
// Pointwise activations
// ---------------------------------------------------------------------------

template <class T>
struct ReLU {
  static constexpr const char* name = "relu";
  static constexpr Saved saves(double) { return Saved::Output; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(math::lt(x, V(0)), V(0), x);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return math::keep_nan(y, math::select(math::gt(y, V(0)), g, V(0)));  // threshold_backward, NaN kept
  }
};

// slope * x for x < 0; a zero slope gives 0 at x = -inf (its limit), not NaN.
template <class V>
C10_HOST_DEVICE inline V negative_part(V x, V slope) {
  return math::times_vanishing(x, slope);
}

template <class T>
struct LeakyReLU {
  static constexpr const char* name = "leaky_relu";
  T slope;
  explicit LeakyReLU(double negative_slope) : slope(T(negative_slope)) {}
  // a slope >= 0 keeps y > 0 exactly where x > 0 (a product that underflows
  // to -0 included), and backward only asks which side saved is on
  Saved saves(double) const { return slope >= 0 ? Saved::Output : Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(math::lt(x, V(0)), negative_part(x, V(slope)), x);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::keep_nan(x, math::select(math::gt(x, V(0)), g, g * V(slope)));
  }
};

template <class T>
struct ReLU6 {
  static constexpr const char* name = "relu6";
  static constexpr Saved saves(double) { return Saved::Output; }  // y in (0, 6) iff x in (0, 6)
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::clamp(x, V(0), V(6));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return math::keep_nan(y, math::select(math::le(y, V(0)), V(0), math::select(math::ge(y, V(6)), V(0), g)));
  }
};

// Leaky ReLU's negative slope with ReLU6's cap: slope*x below 0, x on [0, 6],
// 6 above; derivative slope on x <= 0 and 0 on x >= 6 (the two twins' values
// at their kinks, leaky_relu'(0) = slope, relu6'(6) = 0), 1 between.
template <class T>
struct LeakyReLU6 {
  static constexpr const char* name = "leaky_relu6";
  T slope;
  explicit LeakyReLU6(double negative_slope) : slope(T(negative_slope)) {}
  // with slope >= 0 the output falls in the same three ranges as the input
  Saved saves(double) const { return slope >= 0 ? Saved::Output : Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(math::lt(x, V(0)), negative_part(x, V(slope)), math::select(math::gt(x, V(6)), V(6), x));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::keep_nan(x, math::select(math::le(x, V(0)), g * V(slope), math::select(math::ge(x, V(6)), V(0), g)));
  }
};

// ELU, SELU and CELU are one formula with three coefficients, as in ATen:
// x > 0: scale*x;  x <= 0: alpha*scale*(exp(input_scale*x) - 1).
template <class T>
struct ELU {
  static constexpr const char* name = "elu";
  T neg_coef, pos_coef, input_scale;
  explicit ELU(double alpha, double scale = 1.0, double input_scale_ = 1.0)
      : neg_coef(T(alpha * scale)), pos_coef(T(scale)), input_scale(T(input_scale_)) {}
  // From the output, the derivative of the negative side is
  // input_scale * (y + neg_coef): exact where y <= 0 iff x <= 0 (alpha of
  // input_scale's sign: ELU and SELU with alpha >= 0, CELU always). Near
  // y = -neg_coef the sum cancels to an error of y's rounding, below float
  // tolerance in float32 and float64 but not in float16 or bfloat16, which
  // keep the input.
  Saved saves(double unit_roundoff) const {
    return neg_coef * input_scale >= 0 && unit_roundoff <= kFloatRoundoff ? Saved::Output : Saved::Input;
  }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(math::le(x, V(0)), math::expm1(x * V(input_scale)) * V(neg_coef),
                        x * V(pos_coef));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    // a NaN falls into the exp branch
    return math::select(math::gt(x, V(0)), g * V(pos_coef),
                        g * V(input_scale * neg_coef) * math::exp(x * V(input_scale)));
  }
  template <class V> C10_HOST_DEVICE V backward_from_output(V g, V y) const {
    return math::select(math::gt(y, V(0)), g * V(pos_coef), g * V(input_scale) * (y + V(neg_coef)));
  }
};

template <class T>
struct SELU : ELU<T> {
  static constexpr const char* name = "selu";
  SELU() : ELU<T>(1.6732632423543772848170429916717, 1.0507009873554804934193349852946) {}
};

template <class T>
struct CELU : ELU<T> {
  static constexpr const char* name = "celu";
  explicit CELU(double alpha) : ELU<T>(alpha, 1.0, 1.0 / checked(alpha)) {}
  static double checked(double alpha) {
    TORCH_CHECK(alpha != 0, "torch_activations.celu: alpha cannot be 0 (ZeroDivisionError)");
    return alpha;
  }
};

template <class T>
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr Saved saves(double) { return Saved::Output; }
  template <class V> C10_HOST_DEVICE V forward(V x) const { return math::sigmoid(x); }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return g * (V(1) - y) * y;
  }
};

// The gradient comes from the saved output: 1 - y^2, exact for that y (one
// fused rounding). Where |y| is within a few ulps of 1 the rounding of y
// itself dominates (see the README's numerical notes).
template <class T>
struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr Saved saves(double) { return Saved::Output; }
  template <class V> C10_HOST_DEVICE V forward(V x) const { return math::tanh(x); }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return g * math::fma(V(0) - y, y, V(1));
  }
};

// x * sigmoid(x); derivative s + x s (1 - s), with s and 1 - s from
// e = exp(-|x|) (no cancellation in 1 - s) and s (1 - s) = e / (1 + e)^2.
template <class T>
struct SiLU {
  static constexpr const char* name = "silu";
  static constexpr Saved saves(double) { return Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const { return math::times_sigmoid(x, x); }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    const V e = math::exp(V(0) - math::abs(x));
    const auto p = math::sigmoid_pair_from(x, e);
    return g * (p.s + math::times_vanishing(x, p.s * p.sc));
  }
};

// z = beta * x, the argument of Swish's sigmoid. In float its rounding error
// dz (which exp(-|z|) would magnify |z| times) is kept and put back into exp.
template <class T, class V>
struct SwishArgument {
  V z, dz = V(0);  // beta * x = z + dz exactly
  C10_HOST_DEVICE SwishArgument(V x, V beta) {
    // beta * (+-inf) would be NaN for beta = 0; the largest finite x gives the limit
    const V xf = math::bound(x, V(std::numeric_limits<T>::lowest()), V(std::numeric_limits<T>::max()));
    z = beta * xf;
    if constexpr (std::is_same_v<T, float>) {
      // beyond |z| = 128, exp(-|z|) is 0 and dz may be inf
      dz = math::select(math::lt(math::abs(z), V(128)), math::product_error(beta, xf, z), V(0));
    }
  }
  C10_HOST_DEVICE V value(V x) const {
    return math::times_sigmoid<std::is_same_v<T, float>>(x, z, dz);
  }
  // sigmoid(z) and 1 - sigmoid(z) from exp(-|z + dz|) = exp(-|z|) (1 -+ dz)
  C10_HOST_DEVICE math::SigmoidPair<V> sigmoid_pair() const {
    V e = math::exp(V(0) - math::abs(z));
    if constexpr (std::is_same_v<T, float>) e = math::fma(e, math::select(math::lt(z, V(0)), dz, V(0) - dz), e);
    return math::sigmoid_pair_from(z, e);
  }
  // d/dx: s + z s (1 - s); z may be +-inf where s (1 - s) is 0
  C10_HOST_DEVICE V grad_x() const {
    const auto p = sigmoid_pair();
    return p.s + math::times_vanishing(z, p.s * p.sc);
  }
  // d/dbeta: x^2 s (1 - s), multiplied so that x^2 cannot overflow where the result is 0
  C10_HOST_DEVICE V grad_beta(V x) const {
    const auto p = sigmoid_pair();
    return math::times_vanishing(x, math::times_vanishing(x, p.s * p.sc));
  }
};

// x * sigmoid(beta * x) with a fixed beta (SiLU is beta = 1).
template <class T>
struct Swish {
  static constexpr const char* name = "swish";
  static constexpr Saved saves(double) { return Saved::Input; }
  T beta;
  explicit Swish(double beta_) : beta(T(beta_)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return SwishArgument<T, V>(x, V(beta)).value(x);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return g * SwishArgument<T, V>(x, V(beta)).grad_x();
  }
};

template <class T>
struct Hardswish {
  static constexpr const char* name = "hardswish";
  static constexpr Saved saves(double) { return Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    // x itself from 3 up: x * 6 / 6 would overflow above max / 6
    return math::select(math::ge(x, V(3)), x, math::times_vanishing(x, math::clamp(x + V(3), V(0), V(6))) / V(6));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    // (x + 1.5) / 3 rather than x / 3 + 0.5: exact near its zero at -1.5;
    // a NaN falls into that branch
    return math::select(math::ge(x, V(3)), g, math::select(math::le(x, V(-3)), V(0), g * ((x + V(1.5)) / V(3))));
  }
};

// softsign(x) = x / (1 + |x|); derivative 1 / (1 + |x|)^2. |x| is clamped
// at 2^100 first: beyond 2^64, 1 + |x| is |x| in every float type, so the
// quotient is already +-1 there, and +-inf gives its limit instead of inf / inf.
template <class T>
struct Softsign {
  static constexpr const char* name = "softsign";
  static constexpr Saved saves(double) { return Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    const V xc = math::clamp(x, V(-0x1p100f), V(0x1p100f));
    return xc / (V(1) + math::abs(xc));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    const V d = V(1) + math::abs(math::clamp(x, V(-0x1p100f), V(0x1p100f)));
    return g / (d * d);
  }
};

template <class T>
struct Hardsigmoid {
  static constexpr const char* name = "hardsigmoid";
  static constexpr Saved saves(double) { return Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::clamp(x + V(3), V(0), V(6)) / V(6);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::keep_nan(x, math::select(math::gt(x, V(-3)), math::select(math::lt(x, V(3)), g / V(6), V(0)), V(0)));
  }
};

// mish(x) = x * tanh(softplus(x)) = x n / (n + 2), n = e (e + 2), e = exp(x):
// one exp instead of exp, log1p and tanh. Its derivative, t + x sigmoid(x)
// (1 - t^2) with t = n / (n + 2), is t + 4 x e (e + 1) / (n + 2)^2, which
// has no 1 - t^2 to cancel. Above x = 20, tanh(softplus(x)) is 1 in every
// float type (and n would overflow), so mish is x and its derivative 1.
template <class T>
struct Mish {
  static constexpr const char* name = "mish";
  static constexpr Saved saves(double) { return Saved::Input; }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    const V e = math::exp(x), n = math::fma(e, e, V(2) * e);
    return math::select(math::gt(x, V(20)), x, math::times_vanishing(x, n) / (n + V(2)));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    const V e = math::exp(x), n = math::fma(e, e, V(2) * e), d = n + V(2);
    const V slope = n / d + math::times_vanishing(x, V(4) * e * (e + V(1)) / (d * d));
    return math::select(math::gt(x, V(20)), g, g * slope);
  }
};

// The parts of GELU (erf form) that forward and backward share, in float:
// Phi(-a) = exp(-a^2 / 2) m(a), a = |x|, where m(a) (the Mills ratio over
// sqrt(2 pi)) is a rational function with positive coefficients (Horner
// without cancellation), fitted by scripts/fit_coefficients.py to 1e-8 on
// [0, 14.5]. This keeps Phi's relative accuracy in the negative tail, where
// 1 + erf(x / sqrt 2) cancels; a^2 / 2 is split exactly so that exp sees no
// rounding of it. Beyond |x| = 14.5, exp(-a^2 / 2) is 0.
template <class V>
struct NormalTail {
  V xc, e, m;  // x clamped to [-14.5, 14.5]; Phi(-|x|) = e * m * 2^-64
  C10_HOST_DEVICE explicit NormalTail(V x) {
    xc = math::bound(x, V(-14.5f), V(14.5f));
    const V a = math::abs(xc), a2 = a * a;
    const V e0 = math::exp_times_2_64(V(-0.5f) * a2);
    e = math::fma(e0, V(-0.5f) * math::product_error(a, a, a2), e0);
    m = horner(a, 0.5f, 0.507258892f, 0.250324875f, 0.0712039992f, 0.0116196806f, 0.000887073053f) /
        horner(a, 1.f, 1.81240237f, 1.44673765f, 0.6564973f, 0.18071121f, 0.0291260239f, 0.00222356548f);
  }
  template <class... C>
  C10_HOST_DEVICE static V horner(V a, float c0, C... higher) {
    if constexpr (sizeof...(C) == 0) {
      return V(c0);
    } else {
      return math::fma(a, horner(a, higher...), V(c0));
    }
  }
};

// GELU, exact (Phi, the normal CDF) or with the tanh approximation;
// `approximate` is checked on the host, once per call, and the branch is
// uniform over all elements. Exact: x Phi(x) and Phi(x) + x phi(x), in float
// from NormalTail (x Phi(x) = x - x Phi(-x) for x >= 0), in double with
// Phi(x) = erfc(-x / sqrt 2) / 2. Tanh: 0.5 x (1 + tanh(u)) = x sigmoid(2u),
// u = sqrt(2/pi) (x + 0.044715 x^3), which has no 1 + tanh to cancel.
template <class T>
struct GELU {
  static constexpr const char* name = "gelu";
  static constexpr Saved saves(double) { return Saved::Input; }
  bool use_tanh;
  explicit GELU(c10::string_view approximate);
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    if (use_tanh) {
      const V xc = math::bound(x, V(-100), V(100));  // beyond, sigmoid(2u) is 0 or 1
      const V z = xc * math::fma(V(2 * kSqrt2OverPi * kKappa), xc * xc, V(2 * kSqrt2OverPi));
      return math::times_sigmoid(x, z);
    }
    if constexpr (std::is_same_v<T, float>) {
      const NormalTail<V> n(x);
      const V tail = n.xc * n.e * n.m * V(math::kTwoMinus64);  // x Phi(-|x|); only the last step may be subnormal
      return math::select(math::lt(x, V(0)), tail, x - tail);
    } else {
      return math::times_vanishing(x, V(0.5) * math::erfc(x * V(-kSqrt1_2)));
    }
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    if (use_tanh) {
      const V xc = math::bound(x, V(-100), V(100));
      const V x2 = xc * xc;
      const V z = xc * math::fma(V(2 * kSqrt2OverPi * kKappa), x2, V(2 * kSqrt2OverPi));
      const V dz = math::fma(V(6 * kSqrt2OverPi * kKappa), x2, V(2 * kSqrt2OverPi));
      const auto p = math::sigmoid_pair_from(z, math::exp(V(0) - math::abs(z)));
      return g * (p.s + xc * p.s * p.sc * dz);  // |x| <= 100: no overflow
    }
    if constexpr (std::is_same_v<T, float>) {
      // Phi(x) + x phi(x), phi = e / sqrt(2 pi): e (m + x / sqrt(2 pi)) for x < 0,
      // 1 - e (m - x / sqrt(2 pi)) for x >= 0
      const NormalTail<V> n(x);
      const V c = V(kInvSqrt2Pi) * n.xc;
      const V e = n.e * V(math::kTwoMinus64);
      return g * math::select(math::lt(x, V(0)), e * (n.m + c), V(1) - e * (n.m - c));
    } else {
      const V cdf = V(0.5) * math::erfc(x * V(-kSqrt1_2));
      const V pdf = math::exp(V(-0.5) * x * x) * V(kInvSqrt2Pi);
      return g * (cdf + math::times_vanishing(x, pdf));
    }
  }
  static constexpr T kSqrt1_2 = T(0.70710678118654752440);
  static constexpr T kInvSqrt2Pi = T(0.39894228040143267794);
  static constexpr T kSqrt2OverPi = T(0.79788456080286535588);
  static constexpr T kKappa = T(0.044715);
};

template <class T>
struct Softplus {
  static constexpr const char* name = "softplus";
  T beta, threshold, inv_beta;
  Softplus(double beta_, double threshold_)
      : beta(T(beta_)), threshold(T(threshold_)), inv_beta(T(1.0 / beta_)) {}
  // From y: sigmoid(beta x) = 1 - exp(-beta y), as exp(beta y) = 1 + exp(beta x),
  // with no loss anywhere (the relative condition is at most 1). The linear
  // side (beta x > threshold, where y = x and the derivative is 1) is told
  // apart by beta y > threshold, which the log side also reaches, by at most
  // log1p(exp(-threshold)): where 1 - sigmoid(threshold) ~ exp(-threshold) is
  // below the storage type's unit roundoff, the two agree to its precision.
  // Float32 and smaller at the default threshold of 20; float64 keeps the input.
  Saved saves(double unit_roundoff) const {
    return beta != 0 && std::exp(-double(threshold)) <= unit_roundoff ? Saved::Output : Saved::Input;
  }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    V bx = x * V(beta);
    return math::select(math::gt(bx, V(threshold)), x, math::log1p_exp(bx) * V(inv_beta));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    V bx = x * V(beta);
    return math::select(math::gt(bx, V(threshold)), g, g * math::sigmoid(bx));
  }
  template <class V> C10_HOST_DEVICE V backward_from_output(V g, V y) const {
    V by = y * V(beta);
    return math::select(math::gt(by, V(threshold)), g, g * (V(0) - math::expm1(V(0) - by)));
  }
};

// ---------------------------------------------------------------------------
// Channel-wise activations: one learnable value w per channel (or one in all)
// ---------------------------------------------------------------------------

template <class T>
struct PReLU {
  static constexpr const char* name = "prelu";
  template <class V> C10_HOST_DEVICE V forward(V x, V w) const {
    return math::select(math::lt(x, V(0)), negative_part(x, w), x);
  }
  template <class V> C10_HOST_DEVICE V grad_input(V g, V x, V w) const {
    return math::keep_nan(x, math::select(math::gt(x, V(0)), g, w * g));
  }
  template <class V> C10_HOST_DEVICE V grad_weight(V g, V x, V w) const {
    return math::select(math::gt(x, V(0)), V(0), g * x);
  }
};

// Swish with a learnable beta: x * sigmoid(beta * x).
template <class T>
struct SwishLearnable {
  static constexpr const char* name = "swish_learnable";
  template <class V> C10_HOST_DEVICE V forward(V x, V beta) const {
    return SwishArgument<T, V>(x, beta).value(x);
  }
  template <class V> C10_HOST_DEVICE V grad_input(V g, V x, V beta) const {
    return g * SwishArgument<T, V>(x, beta).grad_x();
  }
  template <class V> C10_HOST_DEVICE V grad_weight(V g, V x, V beta) const {
    return g * SwishArgument<T, V>(x, beta).grad_beta(x);
  }
};

template <class T>
GELU<T>::GELU(c10::string_view approximate) : use_tanh(approximate == "tanh") {
  TORCH_CHECK(approximate == "none" || approximate == "tanh",
              "torch_activations.gelu: approximate must be 'none' or 'tanh', got '",
              approximate, "'");
}

// Adapters that give the launchers one call shape: f(inputs...) -> output.
template <class Op>
struct Forward {
  Op op;
  template <class V> C10_HOST_DEVICE V operator()(V x) const { return op.forward(x); }
};
template <class Op, class = void>
inline constexpr bool kHasOutputFormula = false;
template <class Op>
inline constexpr bool kHasOutputFormula<
    Op, std::void_t<decltype(std::declval<const Op&>().backward_from_output(0.f, 0.f))>> = true;

// saved_output: the launcher's word that saved is the output (saves() said so)
template <class Op>
struct Backward {
  Op op;
  bool saved_output = false;
  template <class V> C10_HOST_DEVICE V operator()(V g, V saved) const {
    if constexpr (kHasOutputFormula<Op>) {
      if (saved_output) return op.backward_from_output(g, saved);
    }
    return op.backward(g, saved);
  }
};

// ------------------------------------------------- compact saved state (opt-in)
//
// saved="mask" and saved="uint8" keep, instead of a tensor of the input's
// size and type, a code per element from which backward rebuilds the
// derivative. Codes are computed from d = backward(1, x).
//
// mask (exact, piecewise-linear ops): the derivative takes a few values, one
// per region of the input. Each region has a representative input r_c, and
// an element's code is the first c with backward(1, r_c) == d (NaN matching
// NaN); backward(g, r_c) then is bitwise backward(g, x), the formula being
// the same on the whole region. Codes are packed kBits to a byte, the first
// element in the lowest bits.
template <class Op>
struct MaskRegions {
  static constexpr int kBits = 0;  // no mask: not piecewise linear
};
// one bit: a NaN input passes the gradient through, as torch's relu does
template <class T>
struct MaskRegions<ReLU<T>> {
  static constexpr int kBits = 1, kCodes = 2, kNanCode = 1;
  C10_HOST_DEVICE static T representative(int c) { return c == 0 ? T(-1) : T(1); }
};
// one bit: a NaN input takes the slope, as torch's leaky_relu does
template <class T>
struct MaskRegions<LeakyReLU<T>> {
  static constexpr int kBits = 1, kCodes = 2, kNanCode = 0;
  C10_HOST_DEVICE static T representative(int c) { return c == 0 ? T(-1) : T(1); }
};
// two bits: 0 (below 0 and above 6), 1, NaN
template <class T>
struct MaskRegions<ReLU6<T>> {
  static constexpr int kBits = 2, kCodes = 3, kNanCode = 2;
  C10_HOST_DEVICE static T representative(int c) {
    return c == 0 ? T(-1) : c == 1 ? T(1) : std::numeric_limits<T>::quiet_NaN();
  }
};
// two bits: slope, 1, 0, NaN
template <class T>
struct MaskRegions<LeakyReLU6<T>> {
  static constexpr int kBits = 2, kCodes = 4, kNanCode = 3;
  C10_HOST_DEVICE static T representative(int c) {
    return c == 0 ? T(-1) : c == 1 ? T(1) : c == 2 ? T(7) : std::numeric_limits<T>::quiet_NaN();
  }
};
// two bits: 0, 1/6, NaN
template <class T>
struct MaskRegions<Hardsigmoid<T>> {
  static constexpr int kBits = 2, kCodes = 3, kNanCode = 2;
  C10_HOST_DEVICE static T representative(int c) {
    return c == 0 ? T(-4) : c == 1 ? T(0) : std::numeric_limits<T>::quiet_NaN();
  }
};

// uint8 (approximate, smooth ops whose derivative lies in [-0.5, 1.5]): the
// derivative rounded to a multiple of 1/126, code = 64 + 126 d on [0, 254]
// (so 0, 1/2 and 1 are exact), 255 for NaN. The derivative's error is at most
// 1/252 (plus its rounding in the compute type), so a gradient's is at most
// |grad| / 252.
template <class Op>
inline constexpr bool kQuantizedDerivative = false;
template <class T> inline constexpr bool kQuantizedDerivative<GELU<T>> = true;
template <class T> inline constexpr bool kQuantizedDerivative<SiLU<T>> = true;
template <class T> inline constexpr bool kQuantizedDerivative<Swish<T>> = true;
template <class T> inline constexpr bool kQuantizedDerivative<Mish<T>> = true;
template <class T> inline constexpr bool kQuantizedDerivative<Hardswish<T>> = true;

constexpr int kQuantizedZero = 64, kQuantizedSteps = 126, kQuantizedNaN = 255;

// Bits of saved state per element for an op's codes (0: it has none).
template <class Op>
constexpr int code_bits() {
  if constexpr (kQuantizedDerivative<Op>) return 8;
  else return MaskRegions<Op>::kBits;
}

// The state one code stands for: the representative input (mask) or the
// derivative (uint8); decoded_backward(g, state) is the gradient.
template <template <class> class Op, class T>
struct Codec {
  using Regions = MaskRegions<Op<T>>;
  static constexpr int kBits = code_bits<Op<T>>();
  static_assert(kBits > 0, "this op keeps no codes");
  static constexpr int kPerByte = 8 / kBits;
  static constexpr int mask_codes() {
    if constexpr (kBits == 8) return 1;
    else return Regions::kCodes;
  }
  using Operation = Op<T>;
  Operation op;
  T derivative_of[mask_codes()];  // mask: backward(1, r_c)

  C10_HOST_DEVICE explicit Codec(const Op<T>& op_) : op(op_) {
    if constexpr (kBits != 8) {
      for (int c = 0; c < Regions::kCodes; ++c) derivative_of[c] = op.backward(T(1), Regions::representative(c));
    }
  }
  // d = op.backward(1, x)
  C10_HOST_DEVICE uint8_t encode(T d) const {
    if constexpr (kBits == 8) {
      // clamped, then rounded (half up: every value is >= 0 here); no libm
      // call and no branch, so that a loop of it vectorizes
      const bool nan = d != d;
      const T q = (nan ? T(0) : d) * T(kQuantizedSteps) + T(kQuantizedZero + 0.5);
      const uint8_t code = uint8_t(q < T(0.5) ? T(0.5) : q > T(254.5) ? T(254.5) : q);
      return nan ? uint8_t(kQuantizedNaN) : code;
    } else {
      int code = Regions::kNanCode;  // branch-free, so that a loop of it vectorizes
      for (int c = Regions::kCodes - 1; c >= 0; --c) {
        const T r = derivative_of[c];
        code = d == r || (d != d && r != r) ? c : code;
      }
      return uint8_t(code);
    }
  }
  C10_HOST_DEVICE T state(int code) const {
    if constexpr (kBits == 8) {
      return code == kQuantizedNaN ? std::numeric_limits<T>::quiet_NaN()
                                   : T(code - kQuantizedZero) / T(kQuantizedSteps);
    } else {
      return Regions::representative(code);
    }
  }
  template <class V> C10_HOST_DEVICE V decoded_backward(V g, V state) const {
    if constexpr (kBits == 8) return g * state;
    else return op.backward(g, state);
  }
};


// ------------------------------------------------------------------ gated
//
// act(a) * b, the gated linear units (GLU, SwiGLU, GeGLU, ReGLU) and the
// two-tensor *_mul forms. Backward of g * act(a) * b: d/db = g * act(a) and
// d/da = act's backward of g * b at a, or at act(a) for an act whose
// backward reads its output (sigmoid).
// Whether Op's backward takes the output alone: it keeps the output whatever
// its parameters (a static saves()) and has no separate formula for it.
template <class Op>
constexpr bool backward_reads_output() {
  if constexpr (requires { typename std::integral_constant<int, int(Op::saves(kFloatRoundoff))>; }) {
    return Op::saves(kFloatRoundoff) == Saved::Output && !kHasOutputFormula<Op>;
  } else {
    return false;
  }
}

template <class Op>
struct Gated {
  static constexpr bool kReadsOutput = backward_reads_output<Op>();
  using Operation = Op;
  Op op;
  template <class V> C10_HOST_DEVICE V forward(V a, V b) const { return op.forward(a) * b; }
  template <class V> C10_HOST_DEVICE void backward(V g, V a, V b, V& grad_a, V& grad_b) const {
    const V fa = op.forward(a);
    grad_b = g * fa;
    grad_a = op.backward(g * b, kReadsOutput ? fa : a);
  }
};

// ------------------------------------------------------------------- bias
//
// op(x + bias), the sum rounded to the storage type first (`round`, the
// backend's), as the composite op(x + bias) rounds it: so a 16-bit result is
// the composite's, and an op that keeps its output keeps one its rule holds
// for (relu6's output is below 6 exactly where its input is). Backward reads
// the output where that rule keeps it (saved_output), else the input, to
// which it adds the bias again.
template <class Op, class Round>
struct Biased {
  using Operation = Op;
  Op op;
  Round round;
  template <class V> C10_HOST_DEVICE V forward(V x, V b) const { return op.forward(round(x + b)); }
  template <class V> C10_HOST_DEVICE V backward(V g, V saved, V b, bool saved_output) const {
    if (saved_output) return Backward<Op>{op, true}(g, saved);
    const V z = round(saved + b);
    return op.backward(g, backward_reads_output<Op>() ? op.forward(z) : z);
  }
};

}  // namespace torch_activations
