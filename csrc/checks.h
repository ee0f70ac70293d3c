// What every kernel checks and allocates before a backend computes:
// argument checks that name the op, and the output layouts torch gives.
#pragma once

#include "op_table.h"

namespace torch_activations {

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
bool saves_output_for(at::ScalarType dtype, bool dense, P... p) {
  if (!saved_is_output<Op>(dtype, p...)) return false;
  if constexpr (kGradLayout<Op> == GradLayout::Input) {
    static_assert(!kHasOutputFormula<Op<float>>, "one formula for the input and the output");
    return dense;
  }
  return true;
}
template <template <class> class Op, class... P>
bool saves_output(const Tensor& x, P... p) {
  const bool dense = kGradLayout<Op> != GradLayout::Input || is_symbolic(x) || x.is_non_overlapping_and_dense();
  return saves_output_for<Op>(x.scalar_type(), dense, p...);
}

}  // namespace torch_activations
