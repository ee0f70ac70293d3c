// The one table of ops, and the device-independent half of every kernel:
// argument checks, output allocation (layouts) and the call into a backend.
//
// for_each_op(visitor) lists every op once; from it come the schemas, the
// kernels of each backend (CPU once per instruction set, CUDA, Meta), the
// C++ autograd and the Python bindings, so no list can drift from another.
//
// A backend B declares `static constexpr bool kComputes` and, when true,
// supplies over dense tensors that share one memory layout:
//   B::forward<Op>(x, out, params...)            out = Op.forward(x)
//   B::backward<Op>(grad, saved, out, saved_output, params...)
//        out = Backward<Op>{op, saved_output}(grad, saved)
//   B::coded_forward<Op>(x, out, codes, params...)   out = Op.forward(x), and
//        codes = Codec's codes of Op.backward(1, x)      (contiguous tensors)
//   B::coded_backward<Op>(grad, codes, out, params...)
//        out = Codec's decoded_backward(grad, state of codes)
//   B::channelwise_forward<Op>(x, w, out, channel_stride, channels)
//   B::channelwise_backward<Op>(grad, x, w, grad_x, channel_stride, channels)
//        -> per-channel weight gradient in the compute type (float or double)
//   B::gated_forward<Act>(act_src, mul_src, out, GatedShape, bias, params...)
//        out = act(a) * b over GatedShape's rows (out contiguous, len a row);
//        a defined bias (of a row's full width) is added to a and b first
//   B::gated_backward<Act>(grad, act_src, mul_src, grad_act, grad_mul, GatedShape, params...)
//        both gradients at the operands' own offsets
//   B::gated_bias_backward<Act>(grad, x, bias, grad_x, GatedShape, params...)
//        -> the column sums of grad_x (the bias gradient, compute type)
//   B::bias_forward<Op>(x, bias, out, params...)    out = Op.forward(x + bias)
//   B::bias_backward<Op>(grad, saved, bias, grad_x, saved_output, params...)
//        -> the column sums of grad_x (contiguous tensors, rows of bias.numel())
//   B::softmax_forward(x, out, outer, dim_size, inner, log)
//   B::softmax_backward(grad, out, grad_x, outer, dim_size, inner, log)
// The Meta backend computes nothing: it runs the same checks and allocates
// the same outputs, so whatever a real kernel rejects, tracing rejects too.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorIterator.h>
#include <torch/library.h>

#include <string>
#include <tuple>
#include <vector>

#include "activations.h"

namespace torch_activations {

using at::Tensor;

// The dtypes every op takes, for the backends' kernels.
#define TA_DISPATCH_FLOATING(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

// ------------------------------------------------------------------- the table

// The gated ops: act(a) * b. Split forms take a and b as the two halves of
// one input along dim (glu gates the first half with the sigmoid of the
// second, as torch's; the others activate the first half, as vLLM's
// silu_and_mul); *_mul forms take them as two tensors of one shape.
template <const char* const& Name, template <class> class A, bool kSplitForm, bool kActOnSecond = false>
struct GatedOp {
  static constexpr const char* const& name = Name;
  template <class T>
  using Act = A<T>;
  static constexpr bool kSplit = kSplitForm, kActSecond = kActOnSecond;
};
inline constexpr const char* kGluName = "glu";
inline constexpr const char* kSwigluName = "swiglu";
inline constexpr const char* kGegluName = "geglu";
inline constexpr const char* kRegluName = "reglu";
inline constexpr const char* kSiluMulName = "silu_mul";
inline constexpr const char* kGeluMulName = "gelu_mul";
inline constexpr const char* kReluMulName = "relu_mul";
using Glu = GatedOp<kGluName, Sigmoid, true, true>;
using Swiglu = GatedOp<kSwigluName, SiLU, true>;
using Geglu = GatedOp<kGegluName, GELU, true>;
using Reglu = GatedOp<kRegluName, ReLU, true>;
using SiluMul = GatedOp<kSiluMulName, SiLU, false>;
using GeluMul = GatedOp<kGeluMulName, GELU, false>;
using ReluMul = GatedOp<kReluMulName, ReLU, false>;

// Every op, once. Pointwise ops name their parameters (after the input) and
// their defaults as torch.nn.functional does ("name=default", in schema
// syntax); the C++ types of the parameters are the functor's constructor
// arguments (double: float, c10::string_view: str). Python reads this table
// through _C.op_table() and the schemas (torch_activations.registry).
template <class V>
void for_each_op(V&& v) {
  v.template pointwise<ReLU>();
  v.template pointwise<LeakyReLU, double>("negative_slope=0.01");
  v.template pointwise<ReLU6>();
  v.template pointwise<LeakyReLU6, double>("negative_slope=0.01");
  v.template pointwise<ELU, double>("alpha=1.0");
  v.template pointwise<SELU>();
  v.template pointwise<CELU, double>("alpha=1.0");
  v.template pointwise<Sigmoid>();
  v.template pointwise<Tanh>();
  v.template pointwise<SiLU>();
  v.template pointwise<Swish, double>("beta=1.0");
  v.template pointwise<Hardswish>();
  v.template pointwise<Hardsigmoid>();
  v.template pointwise<Mish>();
  v.template pointwise<GELU, c10::string_view>("approximate=\"none\"");
  v.template pointwise<Softplus, double, double>("beta=1.0", "threshold=20.0");
  v.template pointwise<Softsign>();
  v.template channelwise<PReLU, /*kPerChannel=*/true>();
  v.template channelwise<SwishLearnable, /*kPerChannel=*/false>();
  v.template gated<Glu>();
  v.template gated<Swiglu>();
  v.template gated<Geglu, c10::string_view>("approximate=\"none\"");
  v.template gated<Reglu>();
  v.template gated<SiluMul>();
  v.template gated<GeluMul, c10::string_view>("approximate=\"none\"");
  v.template gated<ReluMul>();
  v.template softmax</*kLog=*/false>();
  v.template softmax</*kLog=*/true>();
}

template <bool kLog>
constexpr const char* softmax_name() {
  return kLog ? "log_softmax" : "softmax";
}

// ------------------------------------------------------------------ checks

inline void check_float(const char* op, const Tensor& t, const char* what = "input") {
  TORCH_CHECK(t.defined(), "torch_activations.", op, ": ", what, " is undefined");
  const auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16,
              "torch_activations.", op, ": expected a floating-point ", what,
              " (float32, float64, float16 or bfloat16), got ", st);
}

inline void check_pair(const char* op, const Tensor& a, const char* a_name, const Tensor& b,
                       const char* b_name, bool same_shape) {
  TORCH_CHECK(a.device() == b.device(), "torch_activations.", op, ": ", a_name, " is on ",
              a.device(), " but ", b_name, " is on ", b.device());
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), "torch_activations.", op, ": ", a_name,
              " has dtype ", a.scalar_type(), " but ", b_name, " has dtype ", b.scalar_type());
  TORCH_CHECK(!same_shape || a.sym_sizes() == b.sym_sizes(), "torch_activations.", op, ": ",
              a_name, " has shape ", a.sym_sizes(), " but ", b_name, " has shape ", b.sym_sizes());
}

// Parameters are checked by the functor's constructor (GELU's approximate,
// CELU's alpha), on every backend.
template <template <class> class Op, class... P>
void check_params(P... p) {
  Op<float> validate(p...);
  (void)validate;
}

// 2^-(bits of the significand): the relative rounding error of a storage type.
inline double unit_roundoff(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return 0x1p-53;
    case at::kFloat: return 0x1p-24;
    case at::kHalf: return 0x1p-11;
    default: return 0x1p-8;  // bfloat16
  }
}

inline bool is_symbolic(const Tensor& t) {
  return t.unsafeGetTensorImpl()->has_symbolic_sizes_strides();
}

// Whether a backward kernel over tensors of type `t` reads `saved` as the
// output (else the input): the functor's saves() for these parameters.
template <template <class> class Op, class... P>
bool saved_is_output(at::ScalarType t, P... p) {
  return Op<float>(p...).saves(unit_roundoff(t)) == Saved::Output;
}

// The output torch's TensorIterator allocates for an elementwise op over
// inputs of one shape, so outputs (and gradients) get exactly the strides the
// torch.nn twin gives: contiguous if every input is, channels_last if every
// input is, the inputs' own strides if they are dense and share them, else
// TensorIterator's own choice. Under symbolic shapes (tracing) the first
// input's dense layout.
inline Tensor output_like(const Tensor& a, const Tensor& b = Tensor()) {
  if (is_symbolic(a) || (b.defined() && is_symbolic(b))) return at::empty_like(a);
  const bool two = b.defined();
  if (a.is_contiguous() && (!two || b.is_contiguous())) return at::empty(a.sizes(), a.options());
  const auto cl = at::MemoryFormat::ChannelsLast;
  if (a.dim() == 4 && a.is_contiguous(cl) && (!two || b.is_contiguous(cl))) {
    return at::empty(a.sizes(), a.options().memory_format(cl));
  }
  if (a.is_non_overlapping_and_dense() &&
      (!two || (b.is_non_overlapping_and_dense() && a.strides() == b.strides()))) {
    return at::empty_strided(a.sizes(), a.strides(), a.options());
  }
  at::TensorIteratorConfig config;
  config.add_owned_output(Tensor()).add_const_input(a).check_all_same_dtype(false);
  if (two) config.add_const_input(b);
  return config.build().output();
}

// `t` with exactly the memory layout of the dense tensor `like`, copying only
// when it differs (non-dense views, expanded gradients, other stride orders).
inline Tensor in_layout_of(const Tensor& t, const Tensor& like) {
  if (t.strides() == like.strides() && t.is_non_overlapping_and_dense()) return t;
  return at::empty_like(like).copy_(t);
}

// torch's backward kernels allocate the gradient in the layout of their first
// operand: the result for relu (threshold_backward), the input for leaky_relu
// (leaky_relu_backward; prelu's is channelwise_backward's own), the incoming
// gradient for the others. Following the same rule keeps a model's gradients
// bitwise torch's.
enum class GradLayout { Grad, Input, Output };
template <template <class> class Op>
inline constexpr GradLayout kGradLayout = GradLayout::Grad;
template <>
inline constexpr GradLayout kGradLayout<ReLU> = GradLayout::Output;
template <>
inline constexpr GradLayout kGradLayout<LeakyReLU> = GradLayout::Input;

// Whether autograd keeps the output of a call on x (else x): the functor's
// rule, and where torch lays the gradient out like the input, an input the
// output shares its layout with (a dense one). Such ops read either tensor
// with one formula, so the kernels need not hear of this second condition.
template <template <class> class Op, class... P>
bool saves_output(const Tensor& x, P... p) {
  if (!saved_is_output<Op>(x.scalar_type(), p...)) return false;
  if constexpr (kGradLayout<Op> == GradLayout::Input) {
    static_assert(!kHasOutputFormula<Op<float>>, "one formula for the input and the output");
    return is_symbolic(x) || x.is_non_overlapping_and_dense();
  }
  return true;
}

// ---------------------------------------------------------------- pointwise

template <class B, template <class> class Op, class... P>
Tensor pointwise_forward(const Tensor& x, P... p) {
  const char* name = Op<float>::name;
  check_float(name, x);
  check_params<Op>(p...);
  Tensor out = output_like(x);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) B::template forward<Op>(in_layout_of(x, out), out, p...);
  }
  return out;
}

template <class B, template <class> class Op, class... P>
void pointwise_forward_inplace(const Tensor& x, P... p) {
  const char* name = Op<float>::name;
  check_float(name, x);
  check_params<Op>(p...);
  if constexpr (B::kComputes) {
    TORCH_CHECK(at::has_internal_overlap(x) != at::MemOverlap::Yes, "torch_activations.", name,
                "_: unsupported operation: more than one element of the written-to tensor "
                "refers to a single memory location. Please clone() the tensor before "
                "performing the operation.");
    if (x.numel() == 0) return;
    if (x.is_non_overlapping_and_dense()) {
      B::template forward<Op>(x, x, p...);
    } else {
      x.copy_(pointwise_forward<B, Op>(x, p...));
    }
  }
}

template <class B, template <class> class Op, class... P>
Tensor pointwise_backward(const Tensor& grad, const Tensor& saved, P... p) {
  const char* name = Op<float>::name;
  check_float(name, grad, "grad");
  check_float(name, saved, "saved tensor");
  check_pair(name, grad, "grad", saved, "saved tensor", /*same_shape=*/true);
  check_params<Op>(p...);
  // relu, leaky_relu: saved has the layout torch's gradient takes (see saves_output)
  Tensor out = kGradLayout<Op> == GradLayout::Grad ? output_like(grad, saved) : output_like(saved, grad);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      B::template backward<Op>(in_layout_of(grad, out), in_layout_of(saved, out), out,
                               saved_is_output<Op>(saved.scalar_type(), p...), p...);
    }
  }
  return out;
}

// ------------------------------------------------- coded saved state (opt-in)

// Bits of saved state per element of an op's codes (saved="mask" or
// "uint8"); 0 where it has none, and then no coded ops either.
template <template <class> class Op>
inline constexpr int kCodeBits = code_bits<Op<float>>();

inline c10::SymInt code_bytes(const c10::SymInt& elements, int bits) { return (elements * bits + 7) / 8; }

// Runs `compute(dense)` into a contiguous tensor and returns it in `out`'s
// layout: codes follow the elements' logical (row-major) order, so the
// kernels see contiguous tensors whatever the input's layout.
template <class Compute>
void into_layout(const Tensor& out, Compute&& compute) {
  if (out.is_contiguous()) return compute(out);
  Tensor dense = at::empty(out.sizes(), out.options());
  compute(dense);
  out.copy_(dense);
}

// (output, codes): the forward and the codes of backward's derivative.
template <class B, template <class> class Op, class... P>
std::tuple<Tensor, Tensor> pointwise_coded(const Tensor& x, P... p) {
  const char* name = Op<float>::name;
  check_float(name, x);
  check_params<Op>(p...);
  Tensor out = output_like(x);
  Tensor codes = at::empty_symint({code_bytes(x.sym_numel(), kCodeBits<Op>)}, x.options().dtype(at::kByte));
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      into_layout(out, [&](const Tensor& dense) { B::template coded_forward<Op>(x.contiguous(), dense, codes, p...); });
    }
  }
  return {out, codes};
}

template <class B, template <class> class Op, class... P>
Tensor pointwise_coded_backward(const Tensor& grad, const Tensor& codes, P... p) {
  const std::string name = std::string(Op<float>::name) + "_coded_backward";
  check_float(name.c_str(), grad, "grad");
  TORCH_CHECK(codes.defined() && codes.scalar_type() == at::kByte && codes.dim() == 1, "torch_activations.",
              name, ": expected the codes of ", Op<float>::name, "_coded (a 1-D uint8 tensor), got ",
              codes.defined() ? c10::toString(codes.scalar_type()) : "an undefined tensor",
              codes.defined() ? " of " + std::to_string(codes.dim()) + " dimensions" : "");
  TORCH_CHECK(codes.device() == grad.device(), "torch_activations.", name, ": grad is on ", grad.device(),
              " but the codes are on ", codes.device());
  TORCH_CHECK(codes.sym_numel() == code_bytes(grad.sym_numel(), kCodeBits<Op>), "torch_activations.", name,
              ": ", codes.sym_numel(), " bytes of codes do not match a grad of ", grad.sym_numel(),
              " elements (", kCodeBits<Op>, " bits each)");
  check_params<Op>(p...);
  Tensor out = output_like(grad);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      into_layout(out, [&](const Tensor& dense) {
        B::template coded_backward<Op>(grad.contiguous(), codes.contiguous(), dense, p...);
      });
    }
  }
  return out;
}

// -------------------------------------------------------------- channelwise

// Number of weight channels, checked as torch.nn.functional.prelu checks it:
// a single weight, or one per channel, channels being dim 1 (1 for 1-D input).
inline void check_channels(const char* op, const Tensor& x, const Tensor& w, bool per_channel) {
  TORCH_CHECK(w.dim() <= 1, "torch_activations.", op,
              ": expected the weight to be a scalar or 1-D tensor, got ", w.dim(), " dimensions");
  if (w.sym_numel() == 1) return;
  TORCH_CHECK(per_channel, "torch_activations.", op, ": expected a single-element parameter, got ",
              w.sym_numel(), " elements");
  TORCH_CHECK(x.dim() > 0, "torch_activations.", op,
              ": a zero-dim input allows only a single-element weight, got ", w.sym_numel());
  const c10::SymInt channels = x.dim() > 1 ? x.sym_size(1) : c10::SymInt(1);
  TORCH_CHECK(channels == w.sym_numel(), "torch_activations.", op,
              ": mismatch of parameter numbers and input channel size. Found parameter numbers = ",
              w.sym_numel(), " and channel size = ", channels, ".");
}

// Memory distance between consecutive channels in the dense tensor `t`; the
// channel of the element at flat offset m is (m / stride) % channels.
inline int64_t channel_stride(const Tensor& t, int64_t channels) {
  return channels == 1 ? std::max<int64_t>(t.numel(), 1) : t.stride(1);
}

template <template <class> class Op>
void check_channelwise(const Tensor& x, const Tensor& w, bool per_channel) {
  const char* name = Op<float>::name;
  check_float(name, x);
  check_float(name, w, "weight");
  check_pair(name, x, "input", w, "weight", /*same_shape=*/false);
  check_channels(name, x, w, per_channel);
}

template <class B, template <class> class Op, bool kPerChannel>
Tensor channelwise_forward(const Tensor& x, const Tensor& w) {
  check_channelwise<Op>(x, w, kPerChannel);
  Tensor out = output_like(x);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      const int64_t channels = w.numel();
      B::template channelwise_forward<Op>(in_layout_of(x, out), w.contiguous(), out,
                                          channel_stride(out, channels), channels);
    }
  }
  return out;
}

template <class B, template <class> class Op, bool kPerChannel>
std::tuple<Tensor, Tensor> channelwise_backward(const Tensor& grad, const Tensor& x,
                                                const Tensor& w) {
  check_float(Op<float>::name, grad, "grad");
  check_pair(Op<float>::name, grad, "grad", x, "input", /*same_shape=*/true);
  check_channelwise<Op>(x, w, kPerChannel);
  Tensor grad_x = output_like(x, grad);  // as torch's prelu backward
  if constexpr (B::kComputes) {
    if (grad_x.numel() == 0) return {grad_x, at::zeros_like(w)};
    const int64_t channels = w.numel();
    Tensor grad_w = B::template channelwise_backward<Op>(
        in_layout_of(grad, grad_x), in_layout_of(x, grad_x), w.contiguous(), grad_x,
        channel_stride(grad_x, channels), channels);
    return {grad_x, grad_w.to(w.scalar_type()).reshape(w.sizes())};
  } else {
    return {grad_x, at::empty_like(w)};
  }
}

// ------------------------------------------------------------------ softmax

struct SoftmaxShape {
  int64_t outer, dim_size, inner;
};

inline int64_t checked_dim(const char* op, const Tensor& x, int64_t dim) {
  const int64_t ndim = std::max<int64_t>(x.dim(), 1);
  TORCH_CHECK_INDEX(dim >= -ndim && dim < ndim, "torch_activations.", op, ": dim ", dim,
                    " is out of range for a tensor of ", x.dim(),
                    " dimensions (expected to be in range of [", -ndim, ", ", ndim - 1, "])");
  return dim < 0 ? dim + ndim : dim;
}

inline SoftmaxShape softmax_shape(const Tensor& x, int64_t dim) {
  SoftmaxShape s{1, 1, 1};
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) s.outer *= x.size(d);
    else if (d == dim) s.dim_size = x.size(d);
    else s.inner *= x.size(d);
  }
  return s;
}

// torch's softmax gives contiguous outputs and gradients, whatever the input.
template <class B, bool kLog>
Tensor softmax_forward(const Tensor& x, int64_t dim) {
  const char* name = softmax_name<kLog>();
  check_float(name, x);
  dim = checked_dim(name, x, dim);
  Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      const SoftmaxShape s = softmax_shape(x, dim);
      B::softmax_forward(x.contiguous(), out, s.outer, s.dim_size, s.inner, kLog);
    }
  }
  return out;
}

template <class B, bool kLog>
Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim) {
  const char* name = softmax_name<kLog>();
  check_float(name, grad, "grad");
  check_float(name, out, "output");
  check_pair(name, grad, "grad", out, "output", /*same_shape=*/true);
  dim = checked_dim(name, out, dim);
  Tensor grad_x = at::empty_like(out, at::MemoryFormat::Contiguous);
  if constexpr (B::kComputes) {
    if (grad_x.numel() > 0) {
      const SoftmaxShape s = softmax_shape(out, dim);
      B::softmax_backward(grad.contiguous(), out.contiguous(), grad_x, s.outer, s.dim_size,
                          s.inner, kLog);
    }
  }
  return grad_x;
}

// -------------------------------------------------------------------- gated

// Where the two operands sit: rows of `len` elements, `stride` apart, the
// activated one at act_offset and the other at mul_offset in the same
// tensor (split forms) or at 0 in two tensors (*_mul forms).
struct GatedShape {
  int64_t outer, len, stride, act_offset, mul_offset;
};

inline GatedShape split_shape(const Tensor& x, int64_t dim, bool act_second) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) outer *= x.size(d);
    else if (d > dim) inner *= x.size(d);
  }
  const int64_t len = x.size(dim) / 2 * inner;
  return {outer, len, 2 * len, act_second ? len : 0, act_second ? 0 : len};
}

inline int64_t checked_halving_dim(const char* op, const Tensor& x, int64_t dim) {
  TORCH_CHECK(x.dim() > 0, "torch_activations.", op, ": a 0-dim input cannot be halved");
  dim = checked_dim(op, x, dim);
  TORCH_CHECK(x.sym_size(dim) % 2 == 0, "torch_activations.", op, ": halving dimension must be even, but dimension ",
              dim, " is size ", x.sym_size(dim));
  return dim;
}

inline std::vector<c10::SymInt> halved_sizes(const Tensor& x, int64_t dim) {
  std::vector<c10::SymInt> sizes(x.sym_sizes().begin(), x.sym_sizes().end());
  sizes[dim] = sizes[dim] / 2;
  return sizes;
}

template <class B, class G, class... P>
Tensor split_gated_forward(const Tensor& x, int64_t dim, P... p) {
  check_float(G::name, x);
  check_params<G::template Act>(p...);
  dim = checked_halving_dim(G::name, x, dim);
  Tensor out = at::empty_symint(halved_sizes(x, dim), x.options());
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      const Tensor xc = x.contiguous();
      B::template gated_forward<G::template Act>(xc, xc, out, split_shape(xc, dim, G::kActSecond), Tensor(), p...);
    }
  }
  return out;
}

template <class B, class G, class... P>
Tensor split_gated_backward(const Tensor& grad, const Tensor& x, int64_t dim, P... p) {
  check_float(G::name, grad, "grad");
  check_float(G::name, x);
  check_pair(G::name, grad, "grad", x, "input", /*same_shape=*/false);
  check_params<G::template Act>(p...);
  dim = checked_halving_dim(G::name, x, dim);
  TORCH_CHECK(grad.sym_sizes() == c10::SymIntArrayRef(halved_sizes(x, dim)), "torch_activations.", G::name,
              ": grad has shape ", grad.sym_sizes(), " but the input's halves have shape ",
              c10::SymIntArrayRef(halved_sizes(x, dim)));
  Tensor grad_x = at::empty_like(x, at::MemoryFormat::Contiguous);
  if constexpr (B::kComputes) {
    if (grad_x.numel() > 0) {
      const Tensor xc = x.contiguous();
      B::template gated_backward<G::template Act>(grad.contiguous(), xc, xc, grad_x, grad_x,
                                                  split_shape(xc, dim, G::kActSecond), p...);
    }
  }
  return grad_x;
}

template <class B, class G, class... P>
Tensor mul_gated_forward(const Tensor& gate, const Tensor& up, P... p) {
  check_float(G::name, gate, "gate");
  check_float(G::name, up, "up");
  check_pair(G::name, gate, "gate", up, "up", /*same_shape=*/true);
  check_params<G::template Act>(p...);
  Tensor out = output_like(gate, up);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      const int64_t n = out.numel();
      B::template gated_forward<G::template Act>(in_layout_of(gate, out), in_layout_of(up, out), out,
                                                 GatedShape{1, n, n, 0, 0}, Tensor(), p...);
    }
  }
  return out;
}

template <class B, class G, class... P>
std::tuple<Tensor, Tensor> mul_gated_backward(const Tensor& grad, const Tensor& gate, const Tensor& up, P... p) {
  check_float(G::name, grad, "grad");
  check_pair(G::name, grad, "grad", gate, "gate", /*same_shape=*/true);
  check_pair(G::name, gate, "gate", up, "up", /*same_shape=*/true);
  check_params<G::template Act>(p...);
  Tensor grad_gate = output_like(grad, gate), grad_up = at::empty_like(grad_gate);  // one layout: one indexing
  if constexpr (B::kComputes) {
    if (grad_gate.numel() > 0) {
      const int64_t n = grad_gate.numel();
      B::template gated_backward<G::template Act>(in_layout_of(grad, grad_gate), in_layout_of(gate, grad_gate),
                                                  in_layout_of(up, grad_gate), grad_gate, grad_up,
                                                  GatedShape{1, n, n, 0, 0}, p...);
    }
  }
  return {grad_gate, grad_up};
}

// --------------------------------------------------------------------- bias

// bias_<op>(x, bias, params...) = op(x + bias), bias along the last
// dimension (for the split gated ops the full width, dim -1 then halved);
// backward gives the input's gradient and the bias's (its column sums) from
// one pass. Pointwise ops keep what their rule keeps (the output where it is
// exact), gated ops the input.
inline std::string bias_name(const char* op) { return std::string("bias_") + op; }

inline void check_bias(const char* op, const Tensor& x, const Tensor& bias) {
  check_float(op, x);
  check_float(op, bias, "bias");
  check_pair(op, x, "input", bias, "bias", /*same_shape=*/false);
  TORCH_CHECK(x.dim() > 0, "torch_activations.", op, ": a 0-dim input has no last dimension to add a bias along");
  TORCH_CHECK(bias.dim() == 1 && bias.sym_size(0) == x.sym_size(-1), "torch_activations.", op,
              ": expected a bias of shape (", x.sym_size(-1), ",) (the input's last dimension), got ",
              bias.sym_sizes());
}

template <template <class> class Op>
struct PointwiseBias {
  static std::string name() { return bias_name(Op<float>::name); }
  template <class... P>
  static bool saves_output(const Tensor& x, P... p) { return saved_is_output<Op>(x.scalar_type(), p...); }
};

template <class G>
struct GatedBias {
  static std::string name() { return bias_name(G::name); }
  template <class... P>
  static bool saves_output(const Tensor&, P...) { return false; }
};

template <class B, template <class> class Op, class... P>
Tensor bias_pointwise_forward(const Tensor& x, const Tensor& bias, P... p) {
  const std::string name = PointwiseBias<Op>::name();
  check_bias(name.c_str(), x, bias);
  check_params<Op>(p...);
  Tensor out = output_like(x);
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      into_layout(out, [&](const Tensor& dense) { B::template bias_forward<Op>(x.contiguous(), bias.contiguous(), dense, p...); });
    }
  }
  return out;
}

template <class B, template <class> class Op, class... P>
std::tuple<Tensor, Tensor> bias_pointwise_backward(const Tensor& grad, const Tensor& saved, const Tensor& bias, P... p) {
  const std::string name = PointwiseBias<Op>::name();
  check_float(name.c_str(), grad, "grad");
  check_bias(name.c_str(), saved, bias);
  check_pair(name.c_str(), grad, "grad", saved, "saved tensor", /*same_shape=*/true);
  check_params<Op>(p...);
  Tensor grad_x = output_like(grad, saved);
  if constexpr (B::kComputes) {
    if (grad_x.numel() == 0) return {grad_x, at::zeros_like(bias)};
    Tensor grad_bias;
    into_layout(grad_x, [&](const Tensor& dense) {
      grad_bias = B::template bias_backward<Op>(grad.contiguous(), saved.contiguous(), bias.contiguous(), dense,
                                                saved_is_output<Op>(saved.scalar_type(), p...), p...);
    });
    return {grad_x, grad_bias.to(bias.scalar_type())};
  } else {
    return {grad_x, at::empty_like(bias)};
  }
}

template <class B, class G, class... P>
Tensor bias_gated_forward(const Tensor& x, const Tensor& bias, P... p) {
  const std::string name = GatedBias<G>::name();
  check_bias(name.c_str(), x, bias);
  check_params<G::template Act>(p...);
  const int64_t dim = checked_halving_dim(name.c_str(), x, -1);
  Tensor out = at::empty_symint(halved_sizes(x, dim), x.options());
  if constexpr (B::kComputes) {
    if (out.numel() > 0) {
      const Tensor xc = x.contiguous();
      B::template gated_forward<G::template Act>(xc, xc, out, split_shape(xc, dim, G::kActSecond), bias.contiguous(),
                                                 p...);
    }
  }
  return out;
}

template <class B, class G, class... P>
std::tuple<Tensor, Tensor> bias_gated_backward(const Tensor& grad, const Tensor& x, const Tensor& bias, P... p) {
  const std::string name = GatedBias<G>::name();
  check_float(name.c_str(), grad, "grad");
  check_bias(name.c_str(), x, bias);
  check_pair(name.c_str(), grad, "grad", x, "input", /*same_shape=*/false);
  check_params<G::template Act>(p...);
  const int64_t dim = checked_halving_dim(name.c_str(), x, -1);
  TORCH_CHECK(grad.sym_sizes() == c10::SymIntArrayRef(halved_sizes(x, dim)), "torch_activations.", name,
              ": grad has shape ", grad.sym_sizes(), " but the input's halves have shape ",
              c10::SymIntArrayRef(halved_sizes(x, dim)));
  Tensor grad_x = at::empty_like(x, at::MemoryFormat::Contiguous);
  if constexpr (B::kComputes) {
    if (grad_x.numel() == 0) return {grad_x, at::zeros_like(bias)};
    const Tensor xc = x.contiguous();
    const Tensor grad_bias = B::template gated_bias_backward<G::template Act>(
        grad.contiguous(), xc, bias.contiguous(), grad_x, split_shape(xc, dim, G::kActSecond), p...);
    return {grad_x, grad_bias.to(bias.scalar_type())};
  } else {
    return {grad_x, at::empty_like(bias)};
  }
}

// ------------------------------------------------------ kernel registration

template <class B>
struct KernelRegistrar {
  torch::Library& m;

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names...) {
    const std::string name = Op<float>::name;
    m.impl(name.c_str(), &pointwise_forward<B, Op, P...>);
    m.impl((name + "_").c_str(), &pointwise_forward_inplace<B, Op, P...>);
    m.impl((name + "_backward").c_str(), &pointwise_backward<B, Op, P...>);
    if constexpr (kCodeBits<Op> > 0) {
      m.impl((name + "_coded").c_str(), &pointwise_coded<B, Op, P...>);
      m.impl((name + "_coded_backward").c_str(), &pointwise_coded_backward<B, Op, P...>);
    }
    m.impl(bias_name(name.c_str()).c_str(), &bias_pointwise_forward<B, Op, P...>);
    m.impl((bias_name(name.c_str()) + "_backward").c_str(), &bias_pointwise_backward<B, Op, P...>);
  }
  template <template <class> class Op, bool kPerChannel>
  void channelwise() {
    const std::string name = Op<float>::name;
    m.impl(name.c_str(), &channelwise_forward<B, Op, kPerChannel>);
    m.impl((name + "_backward").c_str(), &channelwise_backward<B, Op, kPerChannel>);
  }
  template <class G, class... P, class... Names>
  void gated(Names...) {
    const std::string name = G::name;
    if constexpr (G::kSplit) {
      m.impl(name.c_str(), &split_gated_forward<B, G, P...>);
      m.impl((name + "_backward").c_str(), &split_gated_backward<B, G, P...>);
      m.impl(bias_name(G::name).c_str(), &bias_gated_forward<B, G, P...>);
      m.impl((bias_name(G::name) + "_backward").c_str(), &bias_gated_backward<B, G, P...>);
    } else {
      m.impl(name.c_str(), &mul_gated_forward<B, G, P...>);
      m.impl((name + "_backward").c_str(), &mul_gated_backward<B, G, P...>);
    }
  }
  template <bool kLog>
  void softmax() {
    const std::string name = softmax_name<kLog>();
    m.impl(name.c_str(), &softmax_forward<B, kLog>);
    m.impl((name + "_backward").c_str(), &softmax_backward<B, kLog>);
  }
};

template <class B>
void register_kernels(torch::Library& m) {
  for_each_op(KernelRegistrar<B>{m});
}

// Checks and output allocation only: the kernels of the Meta device, which
// fake tensors (torch.compile, torch.export, opcheck) run.
struct MetaBackend {
  static constexpr bool kComputes = false;
};

}  // namespace torch_activations
