// Functors composed of the pointwise ones: the gated act(a) * b and the
// bias form act(x + bias).
#pragma once

#include "functors.h"

namespace torch_activations {


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
