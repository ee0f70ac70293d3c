// Each op of the table registered with a backend B (CPU per instruction set,
// CUDA, Meta), from for_each_op.
#pragma once

#include "families.h"

namespace torch_activations {

template <class B>
struct KernelRegistrar {
  torch::Library& m;

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names...) {
    const std::string name = Op<float>::name;
    m.impl(name.c_str(), &pointwise_forward<B, Op, P...>);
    m.impl((name + "_").c_str(), &pointwise_forward_inplace<B, Op, P...>);
    m.impl((name + "_backward").c_str(), &pointwise_backward<B, Op, P...>);
    m.impl((name + "_backward_").c_str(), &pointwise_backward_inplace<B, Op, P...>);
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
    m.impl((name + "_backward_").c_str(), &softmax_backward_inplace<B, kLog>);
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
