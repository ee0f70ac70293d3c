// The math of every activation, written once.
//
// Each activation is a small struct templated on its compute type T (float for
// float/half/bfloat16, double for double). Its methods are templated on the
// value type V, which is either T itself (CUDA threads, scalar CPU tails) or
// at::vec::Vectorized<T> (CPU SIMD lanes), so the CPU vector path, the CPU
// scalar path and the GPU all run the very same formula.
//
// Pointwise activations provide
//   V forward(V x)
//   V backward(V grad, V saved)   saved is the input or the output, per kSaves
// Channel-wise activations (a learnable parameter w per channel) provide
//   V forward(V x, V w), V grad_input(V g, V x, V w), V grad_weight(V g, V x, V w)
//
// Branches are written with math::select so that NaN and +-Inf come out the
// way ATen's own kernels give them: every comparison is ordered (false on NaN),
// and the formulas mirror aten/src/ATen/native/cpu/Activation.cpp.
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>
#include <c10/util/string_view.h>
#include <cmath>

#if !defined(__CUDACC__)
#include <ATen/cpu/vec/vec.h>
#endif

namespace torch_activations {

enum class Saved { Input, Output };

namespace math {

// ---- scalar vocabulary: host and device ---------------------------------
template <class T>
C10_HOST_DEVICE inline T select(bool cond, T a, T b) { return cond ? a : b; }
C10_HOST_DEVICE inline float exp(float x) { return ::expf(x); }
C10_HOST_DEVICE inline double exp(double x) { return ::exp(x); }
C10_HOST_DEVICE inline float expm1(float x) { return ::expm1f(x); }
C10_HOST_DEVICE inline double expm1(double x) { return ::expm1(x); }
C10_HOST_DEVICE inline float log(float x) { return ::logf(x); }
C10_HOST_DEVICE inline double log(double x) { return ::log(x); }
C10_HOST_DEVICE inline float tanh(float x) { return ::tanhf(x); }
C10_HOST_DEVICE inline double tanh(double x) { return ::tanh(x); }
C10_HOST_DEVICE inline float erf(float x) { return ::erff(x); }
C10_HOST_DEVICE inline double erf(double x) { return ::erf(x); }
C10_HOST_DEVICE inline float abs(float x) { return ::fabsf(x); }
C10_HOST_DEVICE inline double abs(double x) { return ::fabs(x); }
// log1p(u) where the caller knows u is in [0, 1] (float lanes specialise it)
C10_HOST_DEVICE inline float log1p_unit(float u) { return ::log1pf(u); }
C10_HOST_DEVICE inline double log1p_unit(double u) { return ::log1p(u); }
// NaN-propagating clamp, as ATen's clamp/hardtanh.
template <class T>
C10_HOST_DEVICE inline T clamp(T x, T lo, T hi) {
  return x != x ? x : (x < lo ? lo : (x > hi ? hi : x));
}

#if !defined(__CUDACC__)
// ---- the same vocabulary for SIMD lanes (CPU only) ----------------------
using at::vec::Vectorized;
template <class T>
inline Vectorized<T> select(const Vectorized<T>& mask, const Vectorized<T>& a,
                            const Vectorized<T>& b) {
  return Vectorized<T>::blendv(b, a, mask);
}
template <class T> inline Vectorized<T> exp(const Vectorized<T>& x) { return x.exp(); }
template <class T> inline Vectorized<T> expm1(const Vectorized<T>& x) { return x.expm1(); }
template <class T> inline Vectorized<T> tanh(const Vectorized<T>& x) { return x.tanh(); }
template <class T> inline Vectorized<T> erf(const Vectorized<T>& x) { return x.erf(); }
template <class T> inline Vectorized<T> abs(const Vectorized<T>& x) { return x.abs(); }
template <class T> inline Vectorized<T> log1p_unit(const Vectorized<T>& u) { return u.log1p(); }
template <class T>
inline Vectorized<T> clamp(const Vectorized<T>& x, const Vectorized<T>& lo,
                           const Vectorized<T>& hi) {
  return at::vec::minimum(at::vec::maximum(x, lo), hi);  // both propagate NaN
}

// float lanes (float, half and bfloat16 inputs) get faster transcendental
// functions than Sleef's 1-ulp ones; their error stays within a few 1e-7
// relative (checked against float64 by the tests). double keeps Sleef.
using VecF = Vectorized<float>;

// ATen's exp_u20 clamps its input to the finite range; put back +inf for
// overflow and NaN for NaN, which the activations' NaN handling relies on.
inline VecF exp(const VecF& x) {
  const VecF r = VecF::blendv(x.exp_u20(), VecF(INFINITY), x > VecF(88.72283935546875f));
  return VecF::blendv(r, x, x.isnan());
}

// c0 + x * (c1 + x * (c2 + ...)): Horner's rule with fused multiply-adds.
inline VecF polynomial(const VecF& /*x*/, float c) { return VecF(c); }
template <class... C>
inline VecF polynomial(const VecF& x, float c0, C... higher) {
  return at::vec::fmadd(x, polynomial(x, higher...), VecF(c0));
}

// Rational minimax approximation on [-7.9053, 7.9053], the input clamped to
// it: max relative error 4e-7. Odd numerator, even denominator.
inline VecF tanh(const VecF& a) {
  const VecF x = math::clamp(a, VecF(-7.90531110763549805f), VecF(7.90531110763549805f));
  const VecF x2 = x * x;
  const VecF p = polynomial(x2, 4.89352455891786e-03f, 6.37261928875436e-04f, 1.48572235717979e-05f,
                            5.12229709037114e-08f, -8.60467152213735e-11f, 2.00018790482477e-13f,
                            -2.76076847742355e-16f);
  const VecF q = polynomial(x2, 4.89352518554385e-03f, 2.26843463243900e-03f, 1.18534705686654e-04f,
                            1.19825839466702e-06f);
  // below 4e-4 tanh(x) rounds to x, above 9.02 to +-1 (exactly, which
  // 1 + tanh(x) in GELU relies on)
  const VecF r = VecF::blendv(x * p / q, a, a.abs() < VecF(0.0004f));
  return VecF::blendv(r, VecF::blendv(VecF(-1.f), VecF(1.f), a > VecF(0.f)),
                      a.abs() > VecF(9.02f));
}

// Rational minimax approximation on [-4, 4] (beyond, erf is +-1 in float),
// the input clamped to it: max error 4.2e-7; the result clamped to [-1, 1].
inline VecF erf(const VecF& a) {
  const VecF x = math::clamp(a, VecF(-4.f), VecF(4.f));
  const VecF x2 = x * x;
  const VecF p = polynomial(x2, -1.60960333262415e-02f, -2.95459980854025e-03f, -7.34990630326855e-04f,
                            -5.69250639462346e-05f, -2.10102402082508e-06f, 2.77068142495902e-08f,
                            -2.72614225801306e-10f);
  const VecF q = polynomial(x2, -1.42647390514189e-02f, -7.37332916720468e-03f, -1.68282697438203e-03f,
                            -2.13374055278905e-04f, -1.45660718464996e-05f);
  return math::clamp(x * p / q, VecF(-1.f), VecF(1.f));
}

// log1p(u) on [0, 1] as 2 atanh(s), s = u / (2 + u) <= 1/3: an odd series of
// positive terms (no cancellation), 2.2e-7 relative.
inline VecF log1p_unit(const VecF& u) {
  const VecF s = u / (VecF(2.f) + u);
  return VecF(2.f) * s * polynomial(s * s, 1.f, 1.f / 3, 1.f / 5, 1.f / 7, 1.f / 9, 1.f / 11, 1.f / 13);
}

// Taylor series near 0 (no cancellation), exp(x) - 1 elsewhere.
inline VecF expm1(const VecF& x) {
  const VecF taylor = x * polynomial(x, 1.f, 1.f / 2, 1.f / 6, 1.f / 24, 1.f / 120, 1.f / 720,
                                     1.f / 5040, 1.f / 40320);
  return VecF::blendv(math::exp(x) - VecF(1.f), taylor, x.abs() < VecF(0.5f));
}
#endif

template <class V>
C10_HOST_DEVICE inline V sigmoid(V x) { return V(1) / (V(1) + math::exp(V(0) - x)); }

// log(1 + exp(z)) as max(z, 0) + log1p(exp(-|z|)): exp cannot overflow and
// log1p sees only [0, 1]. NaN comes through exp.
template <class V>
C10_HOST_DEVICE inline V log1p_exp(V z) {
  return math::select(z > V(0), z, V(0)) + math::log1p_unit(math::exp(V(0) - math::abs(z)));
}

}  // namespace math

// ---------------------------------------------------------------------------
// Pointwise activations
// ---------------------------------------------------------------------------

template <class T>
struct ReLU {
  static constexpr const char* name = "relu";
  static constexpr Saved kSaves = Saved::Output;
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(x < V(0), V(0), x);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return math::select(y <= V(0), V(0), g);  // threshold_backward
  }
};

template <class T>
struct LeakyReLU {
  static constexpr const char* name = "leaky_relu";
  static constexpr Saved kSaves = Saved::Input;
  T slope;
  explicit LeakyReLU(double negative_slope) : slope(T(negative_slope)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(x > V(0), x, x * V(slope));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::select(x > V(0), g, g * V(slope));
  }
};

template <class T>
struct ReLU6 {
  static constexpr const char* name = "relu6";
  static constexpr Saved kSaves = Saved::Output;  // y in (0, 6) iff x in (0, 6)
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::clamp(x, V(0), V(6));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return math::select(y <= V(0), V(0), math::select(y >= V(6), V(0), g));
  }
};

// Leaky ReLU's negative slope with ReLU6's cap: slope*x below 0, x on [0, 6],
// 6 above; derivative slope, 1, 0 on the same three ranges.
template <class T>
struct LeakyReLU6 {
  static constexpr const char* name = "leaky_relu6";
  static constexpr Saved kSaves = Saved::Input;
  T slope;
  explicit LeakyReLU6(double negative_slope) : slope(T(negative_slope)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(x < V(0), x * V(slope), math::select(x > V(6), V(6), x));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::select(x < V(0), g * V(slope), math::select(x > V(6), V(0), g));
  }
};

// ELU, SELU and CELU are one formula with three coefficients, as in ATen:
// x > 0: scale*x;  x <= 0: alpha*scale*(exp(input_scale*x) - 1).
template <class T>
struct ELU {
  static constexpr const char* name = "elu";
  static constexpr Saved kSaves = Saved::Input;
  T neg_coef, pos_coef, input_scale;
  explicit ELU(double alpha, double scale = 1.0, double input_scale_ = 1.0)
      : neg_coef(T(alpha * scale)), pos_coef(T(scale)), input_scale(T(input_scale_)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(x <= V(0), math::expm1(x * V(input_scale)) * V(neg_coef),
                        x * V(pos_coef));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::select(x <= V(0),
                        g * V(input_scale * neg_coef) * math::exp(x * V(input_scale)),
                        g * V(pos_coef));
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
  static constexpr Saved kSaves = Saved::Output;
  template <class V> C10_HOST_DEVICE V forward(V x) const { return math::sigmoid(x); }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return g * (V(1) - y) * y;
  }
};

template <class T>
struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr Saved kSaves = Saved::Output;
  template <class V> C10_HOST_DEVICE V forward(V x) const { return math::tanh(x); }
  template <class V> C10_HOST_DEVICE V backward(V g, V y) const {
    return g * (V(1) - y * y);
  }
};

template <class T>
struct SiLU {
  static constexpr const char* name = "silu";
  static constexpr Saved kSaves = Saved::Input;
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return x / (V(1) + math::exp(V(0) - x));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    V s = math::sigmoid(x);
    return g * s * (V(1) + x * (V(1) - s));
  }
};

// x * sigmoid(beta * x) with a fixed beta (SiLU is beta = 1).
template <class T>
struct Swish {
  static constexpr const char* name = "swish";
  static constexpr Saved kSaves = Saved::Input;
  T beta;
  explicit Swish(double beta_) : beta(T(beta_)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return x / (V(1) + math::exp(V(0) - V(beta) * x));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    V bx = V(beta) * x;
    V s = math::sigmoid(bx);
    return g * s * (V(1) + bx * (V(1) - s));
  }
};

template <class T>
struct Hardswish {
  static constexpr const char* name = "hardswish";
  static constexpr Saved kSaves = Saved::Input;
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return x * math::clamp(x + V(3), V(0), V(6)) / V(6);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::select(x <= V(-3), V(0),
                        math::select(x < V(3), g * (x / V(3) + V(0.5)), g));
  }
};

template <class T>
struct Hardsigmoid {
  static constexpr const char* name = "hardsigmoid";
  static constexpr Saved kSaves = Saved::Input;
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::clamp(x + V(3), V(0), V(6)) / V(6);
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    return math::select(x > V(-3), math::select(x < V(3), g / V(6), V(0)), V(0));
  }
};

// mish(x) = x * tanh(softplus(x)), with tanh(log(1 + e)) = n / (n + 2) for
// n = e * (e + 2), e = exp(x): one exp instead of exp, log1p and tanh. Above
// x = 20, tanh(softplus(x)) is 1 in every float type (and n would overflow).
template <class T>
struct Mish {
  static constexpr const char* name = "mish";
  static constexpr Saved kSaves = Saved::Input;
  template <class V> C10_HOST_DEVICE static V tanh_softplus(V e) {
    V n = e * (e + V(2));
    return n / (n + V(2));
  }
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    return math::select(x > V(20), x, x * tanh_softplus(math::exp(x)));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    V e = math::exp(x);
    V t = tanh_softplus(e);
    V sigmoid = e / (e + V(1));
    // above 20 the formula is g * (1 + x * 0): g, and NaN at +inf as in torch
    return math::select(x > V(20), g * (V(1) + x * V(0)), g * (t + x * sigmoid * (V(1) - t * t)));
  }
};

// GELU, exact (erf) or with the tanh approximation; `approximate` is checked
// on the host, once per call, and the branch is uniform over all elements.
template <class T>
struct GELU {
  static constexpr const char* name = "gelu";
  static constexpr Saved kSaves = Saved::Input;
  bool use_tanh;
  explicit GELU(c10::string_view approximate);
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    if (use_tanh) {
      V inner = V(kSqrt2OverPi) * (x + V(kKappa) * x * x * x);
      return V(0.5) * x * (V(1) + math::tanh(inner));
    }
    return x * V(0.5) * (V(1) + math::erf(x * V(kSqrt1_2)));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    if (use_tanh) {
      V x_sq = x * x;
      V t = math::tanh(V(kSqrt2OverPi) * (x + V(kKappa) * x_sq * x));
      V left_derivative = V(0.5) * (V(1) + t);
      V right_derivative = V(0.5) * x * (V(1) - t * t) * V(kSqrt2OverPi) *
                           (V(1) + V(3 * kKappa) * x_sq);
      return g * (left_derivative + right_derivative);
    }
    V cdf = V(0.5) * (V(1) + math::erf(x * V(kSqrt1_2)));
    V pdf = math::exp(V(-0.5) * x * x) * V(kInvSqrt2Pi);
    return g * (cdf + x * pdf);
  }
  static constexpr T kSqrt1_2 = T(0.70710678118654752440);
  static constexpr T kInvSqrt2Pi = T(0.39894228040143267794);
  static constexpr T kSqrt2OverPi = T(0.79788456080286535588);
  static constexpr T kKappa = T(0.044715);
};

template <class T>
struct Softplus {
  static constexpr const char* name = "softplus";
  static constexpr Saved kSaves = Saved::Input;
  T beta, threshold, inv_beta;
  Softplus(double beta_, double threshold_)
      : beta(T(beta_)), threshold(T(threshold_)), inv_beta(T(1.0 / beta_)) {}
  template <class V> C10_HOST_DEVICE V forward(V x) const {
    V bx = x * V(beta);
    return math::select(bx > V(threshold), x, math::log1p_exp(bx) * V(inv_beta));
  }
  template <class V> C10_HOST_DEVICE V backward(V g, V x) const {
    V bx = x * V(beta);
    V z = math::exp(bx);
    return math::select(bx > V(threshold), g, g * z / (z + V(1)));
  }
};

// ---------------------------------------------------------------------------
// Channel-wise activations: one learnable value w per channel (or one in all)
// ---------------------------------------------------------------------------

template <class T>
struct PReLU {
  static constexpr const char* name = "prelu";
  template <class V> C10_HOST_DEVICE V forward(V x, V w) const {
    return math::select(x > V(0), x, w * x);
  }
  template <class V> C10_HOST_DEVICE V grad_input(V g, V x, V w) const {
    return math::select(x > V(0), g, w * g);
  }
  template <class V> C10_HOST_DEVICE V grad_weight(V g, V x, V w) const {
    return math::select(x > V(0), V(0), g * x);
  }
};

// Swish with a learnable beta: x * sigmoid(beta * x).
template <class T>
struct SwishLearnable {
  static constexpr const char* name = "swish_learnable";
  template <class V> C10_HOST_DEVICE V forward(V x, V beta) const {
    return x / (V(1) + math::exp(V(0) - beta * x));
  }
  template <class V> C10_HOST_DEVICE V grad_input(V g, V x, V beta) const {
    V bx = beta * x;
    V s = math::sigmoid(bx);
    return g * s * (V(1) + bx * (V(1) - s));
  }
  template <class V> C10_HOST_DEVICE V grad_weight(V g, V x, V beta) const {
    V s = math::sigmoid(beta * x);
    return g * x * x * s * (V(1) - s);
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
template <class Op>
struct Backward {
  Op op;
  template <class V> C10_HOST_DEVICE V operator()(V g, V saved) const {
    return op.backward(g, saved);
  }
};

}  // namespace torch_activations
