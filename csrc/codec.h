// Compact saved state (saved="mask" and saved="uint8"): the codes that
// stand in for the tensor backward keeps, and their decoding.
#pragma once

#include "functors.h"

namespace torch_activations {

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

}  // namespace torch_activations
