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
#pragma once

#include "math_lanes.h"

namespace torch_activations {

namespace math {


// exp(a - b) with the rounding error of a - b (TwoSum) put back, so that a
// large difference keeps exp's accuracy: softmax's exp(x - max). The error is
// NaN, and left out, where the difference is infinite.
template <class V>
C10_HOST_DEVICE inline V exp_difference(V a, V b) {
  const V d = a - b, a1 = d + b, b1 = d - a1;
  const V err = (a - a1) + ((V(0) - b) - b1);
  const V e = math::exp_nonpositive(d);  // a <= b: softmax's x - max
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
  const V e = math::exp_nonpositive(V(0) - math::abs(z));
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
  return math::select(math::gt(z, V(0)), z, V(0)) + math::log1p_unit(math::exp_nonpositive(V(0) - math::abs(z)));
}

}  // namespace math


// ---------------------------------------------------------------------------
// Pointwise activations
// ---------------------------------------------------------------------------

template <class T>
struct ReLU {
  static constexpr const char* name = "relu";
  static constexpr bool kPicksValues = true;  // see kExactResults
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
  static constexpr bool kPicksValues = true;  // see kExactResults
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
    const V e = math::exp_nonpositive(V(0) - math::abs(x));
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
    V e = math::exp_nonpositive(V(0) - math::abs(z));
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
    // x itself from 3 up: x * 6 / 6 would overflow above max / 6. (A division:
    // times 1/6 would round once more, past the 2-ulp budget.)
    return math::select(math::ge(x, V(3)), x, math::times_vanishing(x, math::clamp(x + V(3), V(0), V(6))) / V(6));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    // (x + 1.5) / 3 rather than x / 3 + 0.5: exact near its zero at -1.5;
    // a NaN falls into that branch
    return math::select(math::ge(x, V(3)), g,
                        math::select(math::le(x, V(-3)), V(0), g * ((x + V(1.5)) * V(T(1) / T(3)))));
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
    // times 1/6 rather than / 6: a division costs several multiplies (torch multiplies too)
    return math::keep_nan(x, math::select(math::gt(x, V(-3)), math::select(math::lt(x, V(3)), g * V(T(1) / T(6)), V(0)), V(0)));
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
      const auto p = math::sigmoid_pair_from(z, math::exp_nonpositive(V(0) - math::abs(z)));
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

// Ops whose every result, forward and backward, is one of their arguments or
// a small integer (relu: x, g or 0) say kPicksValues: their results are exact
// in the storage type, so a launcher may store them without rounding. The
// adapters below pass it on, for the CPU loops to ask of the functor they get.
template <class Op, class = void>
inline constexpr bool kExactResults = false;
template <class Op>
inline constexpr bool kExactResults<Op, std::void_t<decltype(Op::kPicksValues)>> = Op::kPicksValues;

// Adapters that give the launchers one call shape: f(inputs...) -> output.
template <class Op>
struct Forward {
  Op op;
  static constexpr bool kPicksValues = kExactResults<Op>;
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
  static constexpr bool kPicksValues = kExactResults<Op>;
  template <class V> C10_HOST_DEVICE V operator()(V g, V saved) const {
    if constexpr (kHasOutputFormula<Op>) {
      if (saved_output) return op.backward_from_output(g, saved);
    }
    return op.backward(g, saved);
  }
};

}  // namespace torch_activations
