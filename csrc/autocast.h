// Autocast: each op behaves under torch.autocast as its torch twin does
// (ATen's autocast_mode.cpp). A kernel at an Autocast key casts the op's
// floating-point tensor arguments on that device, then runs the op with
// autocast off; every other op falls through (ATen registers a fallthrough
// for the Autocast keys), as torch's gelu, silu, relu, tanh and sigmoid do.
//
//   CUDA: softplus (and bias_softplus, whose composite ends in softplus),
//         softmax and log_softmax in float32; prelu in the autocast dtype.
//   CPU:  prelu in the autocast dtype (lower precision).
//
// functional.softmax(x, dim, dtype=...) casts first and runs with autocast
// off, as torch's softmax with a dtype does.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace torch_activations {
namespace autocast {

enum class Policy { kFloat32, kLowerPrecision };

template <c10::DeviceType kDevice, Policy kPolicy>
void cast_then_call(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(at::autocast::get_autocast_dispatch_key_from_device_type(kDevice));
  const at::ScalarType to = kPolicy == Policy::kFloat32 ? at::kFloat : at::autocast::get_autocast_dtype(kDevice);
  const auto arguments = static_cast<std::ptrdiff_t>(op.schema().arguments().size());
  for (auto it = stack->end() - arguments; it != stack->end(); ++it) {
    if (it->isTensor()) *it = at::autocast::cached_cast(to, it->toTensor(), kDevice);
  }
  op.callBoxed(stack);
}

template <c10::DeviceType kDevice, Policy kPolicy>
void register_policy(torch::Library& m, std::initializer_list<const char*> ops) {
  for (const char* op : ops) m.impl(op, torch::CppFunction::makeFromBoxedFunction<&cast_then_call<kDevice, kPolicy>>());
}

}  // namespace autocast
}  // namespace torch_activations
