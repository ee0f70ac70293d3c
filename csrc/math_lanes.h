// The same vocabulary for SIMD lanes (at::vec::Vectorized, CPU only), and
// the lane math the functors call: exp, expm1, tanh, erfc and log1p as
// polynomials per instruction set (scripts/fit_coefficients.py).
#pragma once

#include "math_scalar.h"

#if !defined(__CUDACC__)
#include <ATen/cpu/vec/vec.h>
#endif

namespace torch_activations {

namespace math {

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
template <class T> inline Vectorized<T> exp_nonpositive(const Vectorized<T>& x) { return x.exp(); }
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

// exp(x) for x <= 0 (or NaN): sigmoid's exp(-|z|), softmax's exp(x - max).
// 2^n applied as 2^(n + 64), then 2^-64: one pow2i fewer than exp, and the
// same bits (both scale p exactly and round once, where the result is
// subnormal).
TA_LANE_INLINE VecF exp_nonpositive(const VecF& x) {
  return exp_times_2_64(math::bound(x, VecF(-104.5f), VecF(0.f))) * VecF(kTwoMinus64);
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

}  // namespace math

}  // namespace torch_activations
