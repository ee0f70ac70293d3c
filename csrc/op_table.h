// The one table of ops.
//
// for_each_op(visitor) lists every op once; from it come the schemas, the
// kernels of each backend (CPU once per instruction set, CUDA, Meta), the
// C++ autograd and the Python bindings, so no list can drift from another.
// The kernels' device-independent half is in families.h, registered by
// registration.h.
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

}  // namespace torch_activations
