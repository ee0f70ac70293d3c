// Device-independent op wrappers (checks, allocation, layouts) and the table
// that registers every op's kernels for a backend. Included once by the CPU
// kernels (once per instruction set) and once by the CUDA kernels, so each
// backend registers exactly the same list.
//
// A backend B supplies, over dense tensors that share one memory layout:
//   B::forward<Op>(x, out, params...)            out = Op.forward(x)
//   B::backward<Op>(grad, saved, out, params...)  out = Op.backward(grad, saved)
//   B::channelwise_forward<Op>(x, w, out, channel_stride, channels)
//   B::channelwise_backward<Op>(grad, x, w, grad_x, channel_stride, channels)
//        -> per-channel weight gradient in the compute type (float or double)
//   B::softmax_forward(x, out, outer, dim_size, inner, log)
//   B::softmax_backward(grad, out, grad_x, outer, dim_size, inner, log)
#pragma once

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <torch/library.h>

#include <string>
#include <tuple>

#include "activations.h"

namespace torch_activations {

using at::Tensor;

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
  TORCH_CHECK(!same_shape || a.sizes() == b.sizes(), "torch_activations.", op, ": ", a_name,
              " has shape ", a.sizes(), " but ", b_name, " has shape ", b.sizes());
}

// `t` with exactly the memory layout of the dense tensor `like`, copying only
// when it differs (non-dense views, expanded gradients, other stride orders).
inline Tensor in_layout_of(const Tensor& t, const Tensor& like) {
  if (t.strides() == like.strides() && t.is_non_overlapping_and_dense()) return t;
  return at::empty_like(like).copy_(t);
}

// ---------------------------------------------------------------- pointwise

template <class B, template <class> class Op, class... P>
Tensor pointwise_forward(const Tensor& x, P... p) {
  const char* name = Op<float>::name;
  check_float(name, x);
  Op<float> validate(p...);  // constructors check their arguments
  (void)validate;
  // empty_like keeps the layout of dense inputs and gives others the dense
  // layout that TensorIterator (and so torch.nn.functional) would.
  Tensor out = at::empty_like(x);
  if (out.numel() > 0) B::template forward<Op>(in_layout_of(x, out), out, p...);
  return out;
}

template <class B, template <class> class Op, class... P>
void pointwise_forward_inplace(const Tensor& x, P... p) {
  const char* name = Op<float>::name;
  check_float(name, x);
  Op<float> validate(p...);
  (void)validate;
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

template <class B, template <class> class Op, class... P>
Tensor pointwise_backward(const Tensor& grad, const Tensor& saved, P... p) {
  const char* name = Op<float>::name;
  check_float(name, grad, "grad");
  check_float(name, saved, "saved tensor");
  check_pair(name, grad, "grad", saved, "saved tensor", /*same_shape=*/true);
  Tensor out = at::empty_like(saved);
  if (out.numel() > 0) {
    B::template backward<Op>(in_layout_of(grad, out), in_layout_of(saved, out), out, p...);
  }
  return out;
}

template <class B, template <class> class Op, class... P>
void impl_pointwise(torch::Library& m) {
  const std::string name = Op<float>::name;
  m.impl(name.c_str(), [](const Tensor& x, P... p) { return pointwise_forward<B, Op>(x, p...); });
  m.impl((name + "_").c_str(),
         [](const Tensor& x, P... p) { pointwise_forward_inplace<B, Op>(x, p...); });
  m.impl((name + "_backward").c_str(), [](const Tensor& grad, const Tensor& saved, P... p) {
    return pointwise_backward<B, Op>(grad, saved, p...);
  });
}

// -------------------------------------------------------------- channelwise

// Number of weight channels, checked as torch.nn.functional.prelu checks it:
// a single weight, or one per channel, channels being dim 1 (1 for 1-D input).
inline int64_t checked_channels(const char* op, const Tensor& x, const Tensor& w,
                                bool per_channel) {
  TORCH_CHECK(w.dim() <= 1, "torch_activations.", op,
              ": expected the weight to be a scalar or 1-D tensor, got ", w.dim(), " dimensions");
  if (w.numel() == 1) return 1;
  TORCH_CHECK(per_channel, "torch_activations.", op, ": expected a single-element parameter, got ",
              w.numel(), " elements");
  TORCH_CHECK(x.dim() > 0, "torch_activations.", op,
              ": a zero-dim input allows only a single-element weight, got ", w.numel());
  const int64_t channels = x.dim() > 1 ? x.size(1) : 1;
  TORCH_CHECK(channels == w.numel(), "torch_activations.", op,
              ": mismatch of parameter numbers and input channel size. Found parameter numbers = ",
              w.numel(), " and channel size = ", channels, ".");
  return channels;
}

// Memory distance between consecutive channels in the dense tensor `t`; the
// channel of the element at flat offset m is (m / stride) % channels.
inline int64_t channel_stride(const Tensor& t, int64_t channels) {
  return channels == 1 ? std::max<int64_t>(t.numel(), 1) : t.stride(1);
}

template <class B, template <class> class Op>
Tensor channelwise_forward(const Tensor& x, const Tensor& w, bool per_channel) {
  const char* name = Op<float>::name;
  check_float(name, x);
  check_float(name, w, "weight");
  check_pair(name, x, "input", w, "weight", /*same_shape=*/false);
  const int64_t channels = checked_channels(name, x, w, per_channel);
  Tensor out = at::empty_like(x);
  if (out.numel() > 0) {
    B::template channelwise_forward<Op>(in_layout_of(x, out), w.contiguous(), out,
                                        channel_stride(out, channels), channels);
  }
  return out;
}

template <class B, template <class> class Op>
std::tuple<Tensor, Tensor> channelwise_backward(const Tensor& grad, const Tensor& x,
                                                const Tensor& w, bool per_channel) {
  const char* name = Op<float>::name;
  check_float(name, grad, "grad");
  check_float(name, x);
  check_float(name, w, "weight");
  check_pair(name, grad, "grad", x, "input", /*same_shape=*/true);
  check_pair(name, x, "input", w, "weight", /*same_shape=*/false);
  const int64_t channels = checked_channels(name, x, w, per_channel);
  Tensor grad_x = at::empty_like(x);
  if (grad_x.numel() == 0) return {grad_x, at::zeros_like(w)};
  Tensor grad_w = B::template channelwise_backward<Op>(
      in_layout_of(grad, grad_x), in_layout_of(x, grad_x), w.contiguous(), grad_x,
      channel_stride(grad_x, channels), channels);
  return {grad_x, grad_w.to(w.scalar_type()).reshape(w.sizes())};
}

template <class B, template <class> class Op, bool kPerChannel>
void impl_channelwise(torch::Library& m) {
  const std::string name = Op<float>::name;
  m.impl(name.c_str(), [](const Tensor& x, const Tensor& w) {
    return channelwise_forward<B, Op>(x, w, kPerChannel);
  });
  m.impl((name + "_backward").c_str(), [](const Tensor& g, const Tensor& x, const Tensor& w) {
    return channelwise_backward<B, Op>(g, x, w, kPerChannel);
  });
}

// ------------------------------------------------------------------ softmax

struct SoftmaxShape {
  int64_t outer, dim_size, inner;
};

inline SoftmaxShape softmax_shape(const char* op, const Tensor& x, int64_t dim) {
  const int64_t ndim = std::max<int64_t>(x.dim(), 1);
  TORCH_CHECK_INDEX(dim >= -ndim && dim < ndim, "torch_activations.", op, ": dim ", dim,
                    " is out of range for a tensor of ", x.dim(),
                    " dimensions (expected to be in range of [", -ndim, ", ", ndim - 1, "])");
  if (dim < 0) dim += ndim;
  SoftmaxShape s{1, 1, 1};
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) s.outer *= x.size(d);
    else if (d == dim) s.dim_size = x.size(d);
    else s.inner *= x.size(d);
  }
  return s;
}

template <class B>
Tensor softmax_forward(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_float(name, x);
  const SoftmaxShape s = softmax_shape(name, x, dim);
  Tensor input = x.contiguous();
  Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (out.numel() > 0) B::softmax_forward(input, out, s.outer, s.dim_size, s.inner, log);
  return out;
}

template <class B>
Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_float(name, grad, "grad");
  check_float(name, out, "output");
  check_pair(name, grad, "grad", out, "output", /*same_shape=*/true);
  const SoftmaxShape s = softmax_shape(name, out, dim);
  Tensor g = grad.contiguous(), y = out.contiguous();
  Tensor grad_x = at::empty_like(y, at::MemoryFormat::Contiguous);
  if (grad_x.numel() > 0) B::softmax_backward(g, y, grad_x, s.outer, s.dim_size, s.inner, log);
  return grad_x;
}

template <class B>
void impl_softmax(torch::Library& m) {
  m.impl("softmax", [](const Tensor& x, int64_t dim) { return softmax_forward<B>(x, dim, false); });
  m.impl("log_softmax",
         [](const Tensor& x, int64_t dim) { return softmax_forward<B>(x, dim, true); });
  m.impl("softmax_backward", [](const Tensor& g, const Tensor& y, int64_t dim) {
    return softmax_backward<B>(g, y, dim, false);
  });
  m.impl("log_softmax_backward", [](const Tensor& g, const Tensor& y, int64_t dim) {
    return softmax_backward<B>(g, y, dim, true);
  });
}

// --------------------------------------------------------------- the table

template <class B>
void register_kernels(torch::Library& m) {
  impl_pointwise<B, ReLU>(m);
  impl_pointwise<B, LeakyReLU, double>(m);
  impl_pointwise<B, ReLU6>(m);
  impl_pointwise<B, LeakyReLU6, double>(m);
  impl_pointwise<B, ELU, double>(m);
  impl_pointwise<B, SELU>(m);
  impl_pointwise<B, CELU, double>(m);
  impl_pointwise<B, Sigmoid>(m);
  impl_pointwise<B, Tanh>(m);
  impl_pointwise<B, SiLU>(m);
  impl_pointwise<B, Swish, double>(m);
  impl_pointwise<B, Hardswish>(m);
  impl_pointwise<B, Hardsigmoid>(m);
  impl_pointwise<B, Mish>(m);
  impl_pointwise<B, GELU, c10::string_view>(m);
  impl_pointwise<B, Softplus, double, double>(m);
  impl_channelwise<B, PReLU, /*kPerChannel=*/true>(m);
  impl_channelwise<B, SwishLearnable, /*kPerChannel=*/false>(m);
  impl_softmax<B>(m);
}

}  // namespace torch_activations
