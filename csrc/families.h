// The device-independent half of every kernel, per family of ops: checks,
// output allocation (layouts) and the call into a backend.
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

#include "checks.h"

namespace torch_activations {

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

// grad = grad * f'(saved): the input's gradient written over the incoming one
// (what the C++ autograd does with a gradient nothing else holds). Bitwise
// the out-of-place op's result.
template <class B, template <class> class Op, class... P>
void pointwise_backward_inplace(const Tensor& grad, const Tensor& saved, P... p) {
  const char* name = Op<float>::name;
  check_float(name, grad, "grad");
  check_float(name, saved, "saved tensor");
  check_pair(name, grad, "grad", saved, "saved tensor", /*same_shape=*/true);
  check_params<Op>(p...);
  if constexpr (B::kComputes) {
    TORCH_CHECK(at::has_internal_overlap(grad) != at::MemOverlap::Yes, "torch_activations.", name,
                "_backward_: more than one element of grad refers to a single memory location; "
                "clone() it first");
    at::assert_no_partial_overlap(grad, saved);
    if (grad.numel() == 0) return;
    if (grad.is_non_overlapping_and_dense()) {
      B::template backward<Op>(grad, in_layout_of(saved, grad), grad,
                               saved_is_output<Op>(saved.scalar_type(), p...), p...);
    } else {
      grad.copy_(pointwise_backward<B, Op>(grad, saved, p...));
    }
  }
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

// The backward ops' checks; dim made non-negative.
inline int64_t checked_backward_dim(const char* name, const Tensor& grad, const Tensor& out, int64_t dim) {
  check_float(name, grad, "grad");
  check_float(name, out, "output");
  check_pair(name, grad, "grad", out, "output", /*same_shape=*/true);
  return checked_dim(name, out, dim);
}

template <class B, bool kLog>
Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim) {
  const char* name = softmax_name<kLog>();
  dim = checked_backward_dim(name, grad, out, dim);
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

// grad = the input's gradient, written over grad (what the C++ autograd does
// with a gradient nothing else holds). Every kernel takes a line's sum before
// it writes any element of that line, and each element's result needs only
// that element of grad, so the bits are the out-of-place op's.
template <class B, bool kLog>
void softmax_backward_inplace(const Tensor& grad, const Tensor& out, int64_t dim) {
  const char* name = softmax_name<kLog>();
  dim = checked_backward_dim(name, grad, out, dim);
  if constexpr (B::kComputes) {
    TORCH_CHECK(at::has_internal_overlap(grad) != at::MemOverlap::Yes, "torch_activations.", name,
                "_backward_: more than one element of grad refers to a single memory location; clone() it first");
    at::assert_no_partial_overlap(grad, out);
    if (grad.numel() == 0) return;
    if (grad.is_contiguous()) {
      const SoftmaxShape s = softmax_shape(out, dim);
      B::softmax_backward(grad, out.contiguous(), grad, s.outer, s.dim_size, s.inner, kLog);
    } else {
      grad.copy_(softmax_backward<B, kLog>(grad, out, dim));
    }
  }
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

}  // namespace torch_activations
