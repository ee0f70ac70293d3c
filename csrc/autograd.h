// Autograd for every op, in C++ at the Autograd dispatch key, generated from
// op_table.h's for_each_op: one backward node per op family. A forward call
// runs the kernel below autograd, then records a node that saves what the
// backward op needs (the input or the output, per saves_output in op_table.h).
// Nothing on this path is Python.
//
// In-place calls follow torch's own in-place ops: a leaf that requires grad is
// rejected before anything is written, the version counter is bumped, a
// non-leaf (or a view) gets its history rebased, and a saved tensor that was
// overwritten later is detected when backward unpacks it.
//
// The backward ops are differentiable too (double backward, torch.func.jacrev
// of a gradient): when backward runs with create_graph=True the node calls
// them through autograd, which records a SecondOrder node; otherwise below it.
// Second-order formulas are off the hot path, so they are Python
// (torch_activations/_ops.py), reached through second_order().
#pragma once

#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/graph_task.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "families.h"

namespace torch_activations {
namespace autograd {

using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

// A parameter as the node keeps it (a string_view argument dies with the call).
template <class T>
using Stored = std::conditional_t<std::is_same_v<T, c10::string_view>, std::string, T>;

template <class Signature>
c10::TypedOperatorHandle<Signature> find_op(const std::string& name) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(("torch_activations::" + name).c_str(), "")
      .template typed<Signature>();
}

template <class F>
decltype(auto) below_autograd(F&& f) {
  at::AutoDispatchBelowADInplaceOrView guard;
  return f();
}

// Backward nodes call the backward op through autograd only when a graph of
// the backward is being built (double backward).
template <class F>
decltype(auto) backward_call(F&& f) {
  if (at::GradMode::is_enabled()) return f();
  return below_autograd(std::forward<F>(f));
}

inline bool has_forward_grad(const Tensor& t) { return torch::autograd::isFwGradDefined(t); }

inline void check_no_forward_grad(const std::string& op, const Tensor& t) {
  TORCH_CHECK(!has_forward_grad(t), "torch_activations.", op,
              ": forward-mode AD (torch.func.jvp, jacfwd, dual tensors) is not supported by this "
              "op; use reverse mode (backward, torch.func.grad, vjp, jacrev)");
}

// The derivative of backward op `op`, given what its node saved, the incoming
// gradients (undefined where none flows) and the op's parameters: one
// gradient per tensor input of the op. Defined by the Python module (ops.cpp).
variable_list second_order(const std::string& op, const variable_list& saved,
                           const variable_list& grads, const std::vector<c10::IValue>& params);

// The node of every backward op: it saves the op's tensor inputs.
struct SecondOrder : Node {
  std::string op;
  std::vector<SavedVariable> saved;
  std::vector<c10::IValue> params;
  std::string name() const override { return "torch_activations::" + op + "Backward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& s : saved) s.reset_data();
  }
  variable_list apply(variable_list&& grads) override {
    variable_list tensors;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& s : saved) tensors.push_back(s.unpack());
    }
    return second_order(op, tensors, grads, params);
  }
};

// Runs backward op `op` over `inputs` below autograd and, if a graph is being
// built, records its SecondOrder node on `outputs`.
template <class Compute>
auto differentiable_backward(const std::string& op, const variable_list& inputs,
                             std::vector<c10::IValue> params, Compute&& compute) {
  for (const auto& t : inputs) check_no_forward_grad(op, t);
  auto result = below_autograd(std::forward<Compute>(compute));
  if (torch::autograd::compute_requires_grad(inputs)) {
    auto node = c10::make_intrusive<SecondOrder>();
    node->op = op;
    node->params = std::move(params);
    node->set_next_edges(torch::autograd::collect_next_edges(inputs));
    if constexpr (std::is_same_v<decltype(result), Tensor>) {
      torch::autograd::set_history(result, node);
    } else {
      torch::autograd::set_history({std::get<0>(result), std::get<1>(result)}, node);
    }
    for (const auto& t : inputs) node->saved.emplace_back(t, /*is_output=*/false);
  }
  return result;
}

// Whether a backward node may write the input's gradient over the incoming
// `grad` instead of allocating it: nothing else can see grad (no user tensor,
// hook, retained gradient, second consumer or view holds it or its memory,
// which autograd allocated), no graph of this backward is being built nor the
// graph kept for another, and the input's gradient would be laid out as grad
// is (dense, as `saved`). Fewer allocations and page faults, a lower peak.
inline bool gradient_is_autograds_alone(const Tensor& grad, const Tensor& saved) {
  if (at::GradMode::is_enabled() || torch::autograd::get_current_graph_task_keep_graph()) return false;
  const c10::TensorImpl* impl = grad.unsafeGetTensorImpl();
  // a plain tensor: no subclass, no wrapper (functorch, functionalization, fake)
  if (typeid(*impl) != typeid(c10::TensorImpl) || impl->is_python_dispatch() || grad.is_inference()) return false;
  if (grad.use_count() != 1 || !grad.has_storage()) return false;
  const c10::Storage& storage = grad.storage();
  // views share the storage; from_blob, numpy and DLPack memory is not autograd's
  if (storage.use_count() != 1 || !storage.resizable() || storage.allocator() == nullptr) return false;
  return grad.layout() == at::kStrided && !is_symbolic(grad) && grad.scalar_type() == saved.scalar_type() &&
         grad.device() == saved.device() && grad.sizes() == saved.sizes() && grad.strides() == saved.strides() &&
         grad.is_non_overlapping_and_dense();
}

// <op>_backward_ called directly: no graph can follow a gradient written over.
inline void check_inplace_backward(const std::string& op, const Tensor& grad, const Tensor& saved) {
  TORCH_CHECK(!torch::autograd::compute_requires_grad(grad, saved), "torch_activations.", op,
              "_backward_: writes the gradient over grad, which no graph can follow; use ", op,
              "_backward to differentiate the backward");
  check_no_forward_grad(op + "_backward_", grad);
}

// The part every backward node shares: its name and the release of what it saved.
template <class Family, class Self>
struct SavingNode : Node {
  std::string name() const override { return "torch_activations::" + Family::op_name() + "Backward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    static_cast<Self*>(this)->release();
  }
};

// ---------------------------------------------------------------- pointwise

template <template <class> class Op, class... P>
struct Pointwise {
  static std::string op_name() { return Op<float>::name; }
  static const auto& forward_op() {
    static const auto op = find_op<Tensor(const Tensor&, P...)>(op_name());
    return op;
  }
  static const auto& inplace_op() {
    static const auto op = find_op<void(const Tensor&, P...)>(op_name() + "_");
    return op;
  }
  static const auto& backward_op() {
    static const auto op = find_op<Tensor(const Tensor&, const Tensor&, P...)>(op_name() + "_backward");
    return op;
  }
  static const auto& backward_inplace_op() {
    static const auto op = find_op<void(const Tensor&, const Tensor&, P...)>(op_name() + "_backward_");
    return op;
  }

  struct Backward : SavingNode<Pointwise, Backward> {
    SavedVariable saved;
    std::tuple<Stored<P>...> params;
    explicit Backward(P... p) : params(Stored<P>(p)...) {}
    void release() { saved.reset_data(); }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor s = saved.unpack(this->getptr());  // raises if overwritten since
      if (!grads[0].defined()) return {Tensor()};
      if (gradient_is_autograds_alone(grads[0], s)) {
        below_autograd([&] {
          std::apply([&](const auto&... p) { backward_inplace_op().call(grads[0], s, p...); }, params);
        });
        return {std::move(grads[0])};
      }
      return {backward_call([&] {
        return std::apply([&](const auto&... p) { return backward_op().call(grads[0], s, p...); }, params);
      })};
    }
  };

  static Tensor forward(const Tensor& x, P... p) {
    Tensor y = below_autograd([&] { return forward_op().call(x, p...); });
    const bool requires_grad = torch::autograd::compute_requires_grad(x), forward_grad = has_forward_grad(x);
    if (!requires_grad && !forward_grad) return y;
    const bool from_output = saves_output<Op>(x, p...);
    if (requires_grad) {
      auto node = c10::make_intrusive<Backward>(p...);
      node->set_next_edges(torch::autograd::collect_next_edges(x));
      torch::autograd::set_history(y, node);
      node->saved = SavedVariable(from_output ? y : x, /*is_output=*/from_output);
    }
    if (forward_grad) {  // the Jacobian is diagonal: its product is the backward op's
      const Tensor tangent = below_autograd(
          [&] { return backward_op().call(x._fw_grad(0), from_output ? y : x, p...); });
      y._set_fw_grad(tangent, /*level=*/0, /*is_inplace_op=*/false);
    }
    return y;
  }

  static Tensor backward(const Tensor& grad, const Tensor& saved, P... p) {
    return differentiable_backward(op_name() + "_backward", {grad, saved}, {c10::IValue(Stored<P>(p))...},
                                   [&] { return backward_op().call(grad, saved, p...); });
  }

  static void backward_inplace(const Tensor& grad, const Tensor& saved, P... p) {
    check_inplace_backward(op_name(), grad, saved);
    below_autograd([&] { backward_inplace_op().call(grad, saved, p...); });
    torch::autograd::increment_version(grad);
  }

  static void forward_inplace(const Tensor& x, P... p) {
    const bool requires_grad = torch::autograd::compute_requires_grad(x);
    torch::autograd::check_inplace(x, requires_grad);
    check_no_forward_grad(op_name() + "_", x);
    const bool from_output = requires_grad && saves_output<Op>(x, p...);
    c10::intrusive_ptr<Backward> node;
    if (requires_grad) {
      node = c10::make_intrusive<Backward>(p...);
      node->set_next_edges(torch::autograd::collect_next_edges(x));
      // what backward needs must survive the overwrite
      if (!from_output) node->saved = SavedVariable(below_autograd([&] { return x.clone(); }), false);
    }
    below_autograd([&] { inplace_op().call(x, p...); });
    torch::autograd::increment_version(x);
    if (node) {
      torch::autograd::rebase_history(x, node);
      if (from_output) node->saved = SavedVariable(x, /*is_output=*/true, x.is_view());
    }
  }
};

// ------------------------------------------------------- coded saved state

// <op>_coded (saved="mask" or "uint8"): its node keeps the codes alone. The
// derivative of <op>_coded_backward in grad is itself; in the input, 0 for
// the piecewise-linear ops (mask) and not kept by quantized codes (uint8,
// which therefore refuses to build a graph of its backward).
template <template <class> class Op, class... P>
struct Coded {
  static std::string op_name() { return std::string(Op<float>::name) + "_coded"; }
  static const auto& forward_op() {
    static const auto op = find_op<std::tuple<Tensor, Tensor>(const Tensor&, P...)>(op_name());
    return op;
  }
  static const auto& backward_op() {
    static const auto op = find_op<Tensor(const Tensor&, const Tensor&, P...)>(op_name() + "_backward");
    return op;
  }

  struct Backward : SavingNode<Coded, Backward> {
    SavedVariable codes;
    std::tuple<Stored<P>...> params;
    explicit Backward(P... p) : params(Stored<P>(p)...) {}
    void release() { codes.reset_data(); }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor c = codes.unpack();
      if (!grads[0].defined()) return {Tensor()};
      TORCH_CHECK(kCodeBits<Op> != 8 || !at::GradMode::is_enabled(), "torch_activations.", Op<float>::name,
                  ": saved='uint8' keeps only a quantized first derivative; double backward "
                  "(create_graph=True) needs saved='auto' or 'input'");
      return {backward_call([&] {
        return std::apply([&](const auto&... p) { return backward_op().call(grads[0], c, p...); }, params);
      })};
    }
  };

  static std::tuple<Tensor, Tensor> forward(const Tensor& x, P... p) {
    check_no_forward_grad(op_name(), x);
    auto [y, codes] = below_autograd([&] { return forward_op().call(x, p...); });
    if (torch::autograd::compute_requires_grad(x)) {
      auto node = c10::make_intrusive<Backward>(p...);
      node->set_next_edges(torch::autograd::collect_next_edges(x));
      torch::autograd::set_history(y, node);  // the codes (integers) have no gradient
      node->codes = SavedVariable(codes, /*is_output=*/false);
    }
    return {y, codes};
  }

  static Tensor backward(const Tensor& grad, const Tensor& codes, P... p) {
    return differentiable_backward(op_name() + "_backward", {grad, codes}, {c10::IValue(Stored<P>(p))...},
                                   [&] { return backward_op().call(grad, codes, p...); });
  }
};

// -------------------------------------------------------------- channelwise

template <template <class> class Op, bool kPerChannel>
struct Channelwise {
  static std::string op_name() { return Op<float>::name; }
  static const auto& forward_op() {
    static const auto op = find_op<Tensor(const Tensor&, const Tensor&)>(op_name());
    return op;
  }
  static const auto& backward_op() {
    static const auto op = find_op<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&)>(
        op_name() + "_backward");
    return op;
  }

  struct Backward : SavingNode<Channelwise, Backward> {
    SavedVariable x, w;
    void release() {
      x.reset_data();
      w.reset_data();
    }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor xs = x.unpack(), ws = w.unpack();
      if (!grads[0].defined()) return {Tensor(), Tensor()};
      auto [grad_x, grad_w] = backward_call([&] { return backward_op().call(grads[0], xs, ws); });
      return {grad_x, grad_w};
    }
  };

  static Tensor forward(const Tensor& x, const Tensor& w) {
    check_no_forward_grad(op_name(), x);
    check_no_forward_grad(op_name(), w);
    Tensor y = below_autograd([&] { return forward_op().call(x, w); });
    if (torch::autograd::compute_requires_grad(x, w)) {
      auto node = c10::make_intrusive<Backward>();
      node->set_next_edges(torch::autograd::collect_next_edges(x, w));
      torch::autograd::set_history(y, node);
      node->x = SavedVariable(x, false);
      node->w = SavedVariable(w, false);
    }
    return y;
  }

  static std::tuple<Tensor, Tensor> backward(const Tensor& grad, const Tensor& x, const Tensor& w) {
    return differentiable_backward(op_name() + "_backward", {grad, x, w}, {},
                                   [&] { return backward_op().call(grad, x, w); });
  }
};

// -------------------------------------------------------------------- gated

// Split forms (x, dim, params...) save x; *_mul forms (gate, up, params...)
// save both operands: the inputs, never act(a).
template <class G, class... P>
struct GatedFamily {
  static std::string op_name() { return G::name; }
  using ForwardSig = std::conditional_t<G::kSplit, Tensor(const Tensor&, int64_t, P...),
                                        Tensor(const Tensor&, const Tensor&, P...)>;
  using BackwardSig = std::conditional_t<G::kSplit, Tensor(const Tensor&, const Tensor&, int64_t, P...),
                                         std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&, P...)>;
  static const auto& forward_op() {
    static const auto op = find_op<ForwardSig>(op_name());
    return op;
  }
  static const auto& backward_op() {
    static const auto op = find_op<BackwardSig>(op_name() + "_backward");
    return op;
  }

  struct Backward : SavingNode<GatedFamily, Backward> {
    SavedVariable first, second;  // x (split) or gate and up
    int64_t dim = 0;
    std::tuple<Stored<P>...> params;
    explicit Backward(P... p) : params(Stored<P>(p)...) {}
    void release() {
      first.reset_data();
      second.reset_data();
    }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor a = first.unpack();
      if constexpr (G::kSplit) {
        if (!grads[0].defined()) return {Tensor()};
        return {backward_call([&] {
          return std::apply([&](const auto&... p) { return backward_op().call(grads[0], a, dim, p...); }, params);
        })};
      } else {
        const Tensor b = second.unpack();
        if (!grads[0].defined()) return {Tensor(), Tensor()};
        auto [ga, gb] = backward_call([&] {
          return std::apply([&](const auto&... p) { return backward_op().call(grads[0], a, b, p...); }, params);
        });
        return {ga, gb};
      }
    }
  };

  static Tensor split_forward(const Tensor& x, int64_t dim, P... p) {
    check_no_forward_grad(op_name(), x);
    Tensor y = below_autograd([&] { return forward_op().call(x, dim, p...); });
    if (torch::autograd::compute_requires_grad(x)) {
      auto node = c10::make_intrusive<Backward>(p...);
      node->dim = dim;
      node->set_next_edges(torch::autograd::collect_next_edges(x));
      torch::autograd::set_history(y, node);
      node->first = SavedVariable(x, false);
    }
    return y;
  }
  static Tensor mul_forward(const Tensor& gate, const Tensor& up, P... p) {
    check_no_forward_grad(op_name(), gate);
    check_no_forward_grad(op_name(), up);
    Tensor y = below_autograd([&] { return forward_op().call(gate, up, p...); });
    if (torch::autograd::compute_requires_grad(gate, up)) {
      auto node = c10::make_intrusive<Backward>(p...);
      node->set_next_edges(torch::autograd::collect_next_edges(gate, up));
      torch::autograd::set_history(y, node);
      node->first = SavedVariable(gate, false);
      node->second = SavedVariable(up, false);
    }
    return y;
  }
  static Tensor split_backward(const Tensor& grad, const Tensor& x, int64_t dim, P... p) {
    return differentiable_backward(op_name() + "_backward", {grad, x}, {c10::IValue(dim), c10::IValue(Stored<P>(p))...},
                                   [&] { return backward_op().call(grad, x, dim, p...); });
  }
  static std::tuple<Tensor, Tensor> mul_backward(const Tensor& grad, const Tensor& gate, const Tensor& up, P... p) {
    return differentiable_backward(op_name() + "_backward", {grad, gate, up}, {c10::IValue(Stored<P>(p))...},
                                   [&] { return backward_op().call(grad, gate, up, p...); });
  }
};

// --------------------------------------------------------------------- bias

// bias_<op>(x, bias, params...): the node keeps the bias and what Rule says
// (op_table.h's PointwiseBias or GatedBias): the output where it is exact,
// else the input, never x + bias.
template <class Rule, class... P>
struct Biased {
  static std::string op_name() { return Rule::name(); }
  static const auto& forward_op() {
    static const auto op = find_op<Tensor(const Tensor&, const Tensor&, P...)>(op_name());
    return op;
  }
  static const auto& backward_op() {
    static const auto op =
        find_op<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&, P...)>(op_name() + "_backward");
    return op;
  }

  struct Backward : SavingNode<Biased, Backward> {
    SavedVariable saved, bias;
    std::tuple<Stored<P>...> params;
    explicit Backward(P... p) : params(Stored<P>(p)...) {}
    void release() {
      saved.reset_data();
      bias.reset_data();
    }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor s = saved.unpack(this->getptr()), b = bias.unpack();
      if (!grads[0].defined()) return {Tensor(), Tensor()};
      auto [grad_x, grad_bias] = backward_call([&] {
        return std::apply([&](const auto&... p) { return backward_op().call(grads[0], s, b, p...); }, params);
      });
      return {grad_x, grad_bias};
    }
  };

  static Tensor forward(const Tensor& x, const Tensor& bias, P... p) {
    check_no_forward_grad(op_name(), x);
    check_no_forward_grad(op_name(), bias);
    Tensor y = below_autograd([&] { return forward_op().call(x, bias, p...); });
    if (torch::autograd::compute_requires_grad(x, bias)) {
      const bool from_output = Rule::saves_output(x, p...);
      auto node = c10::make_intrusive<Backward>(p...);
      node->set_next_edges(torch::autograd::collect_next_edges(x, bias));
      torch::autograd::set_history(y, node);
      node->saved = SavedVariable(from_output ? y : x, /*is_output=*/from_output);
      node->bias = SavedVariable(bias, false);
    }
    return y;
  }

  static std::tuple<Tensor, Tensor> backward(const Tensor& grad, const Tensor& saved, const Tensor& bias, P... p) {
    return differentiable_backward(op_name() + "_backward", {grad, saved, bias}, {c10::IValue(Stored<P>(p))...},
                                   [&] { return backward_op().call(grad, saved, bias, p...); });
  }
};

// ------------------------------------------------------------------ softmax

template <bool kLog>
struct Softmax {
  static std::string op_name() { return softmax_name<kLog>(); }
  static const auto& forward_op() {
    static const auto op = find_op<Tensor(const Tensor&, int64_t)>(op_name());
    return op;
  }
  static const auto& backward_op() {
    static const auto op = find_op<Tensor(const Tensor&, const Tensor&, int64_t)>(op_name() + "_backward");
    return op;
  }
  static const auto& backward_inplace_op() {
    static const auto op = find_op<void(const Tensor&, const Tensor&, int64_t)>(op_name() + "_backward_");
    return op;
  }

  struct Backward : SavingNode<Softmax, Backward> {
    SavedVariable y;
    int64_t dim = 0;
    void release() { y.reset_data(); }
    variable_list apply(variable_list&& grads) override {
      std::lock_guard<std::mutex> lock(this->mutex_);
      const Tensor ys = y.unpack(this->getptr());
      if (!grads[0].defined()) return {Tensor()};
      if (gradient_is_autograds_alone(grads[0], ys)) {
        below_autograd([&] { backward_inplace_op().call(grads[0], ys, dim); });
        return {std::move(grads[0])};
      }
      return {backward_call([&] { return backward_op().call(grads[0], ys, dim); })};
    }
  };

  static Tensor forward(const Tensor& x, int64_t dim) {
    Tensor y = below_autograd([&] { return forward_op().call(x, dim); });
    if (torch::autograd::compute_requires_grad(x)) {
      auto node = c10::make_intrusive<Backward>();
      node->dim = dim;
      node->set_next_edges(torch::autograd::collect_next_edges(x));
      torch::autograd::set_history(y, node);
      node->y = SavedVariable(y, /*is_output=*/true);
    }
    if (has_forward_grad(x)) {
      const Tensor t = x._fw_grad(0);
      const Tensor tangent = below_autograd([&] {
        // softmax's Jacobian is symmetric, so its product is the backward op's;
        // log_softmax's: t - sum(softmax * t)
        return kLog ? t - (y.exp() * t).sum(dim, /*keepdim=*/true) : backward_op().call(t, y, dim);
      });
      y._set_fw_grad(tangent, /*level=*/0, /*is_inplace_op=*/false);
    }
    return y;
  }

  static Tensor backward(const Tensor& grad, const Tensor& out, int64_t dim) {
    return differentiable_backward(op_name() + "_backward", {grad, out}, {c10::IValue(dim)},
                                   [&] { return backward_op().call(grad, out, dim); });
  }

  static void backward_inplace(const Tensor& grad, const Tensor& out, int64_t dim) {
    check_inplace_backward(op_name(), grad, out);
    below_autograd([&] { backward_inplace_op().call(grad, out, dim); });
    torch::autograd::increment_version(grad);
  }
};

// ------------------------------------------------------------- registration

struct AutogradRegistrar {
  torch::Library& m;

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names...) {
    using F = Pointwise<Op, P...>;
    m.impl(F::op_name().c_str(), &F::forward);
    m.impl((F::op_name() + "_").c_str(), &F::forward_inplace);
    m.impl((F::op_name() + "_backward").c_str(), &F::backward);
    m.impl((F::op_name() + "_backward_").c_str(), &F::backward_inplace);
    if constexpr (kCodeBits<Op> > 0) {
      using C = Coded<Op, P...>;
      m.impl(C::op_name().c_str(), &C::forward);
      m.impl((C::op_name() + "_backward").c_str(), &C::backward);
    }
    bias<Biased<PointwiseBias<Op>, P...>>();
  }
  template <class F>
  void bias() {
    m.impl(F::op_name().c_str(), &F::forward);
    m.impl((F::op_name() + "_backward").c_str(), &F::backward);
  }
  template <template <class> class Op, bool kPerChannel>
  void channelwise() {
    using F = Channelwise<Op, kPerChannel>;
    m.impl(F::op_name().c_str(), &F::forward);
    m.impl((F::op_name() + "_backward").c_str(), &F::backward);
  }
  template <class G, class... P, class... Names>
  void gated(Names...) {
    using F = GatedFamily<G, P...>;
    if constexpr (G::kSplit) {
      m.impl(F::op_name().c_str(), &F::split_forward);
      m.impl((F::op_name() + "_backward").c_str(), &F::split_backward);
      bias<Biased<GatedBias<G>, P...>>();
    } else {
      m.impl(F::op_name().c_str(), &F::mul_forward);
      m.impl((F::op_name() + "_backward").c_str(), &F::mul_backward);
    }
  }
  template <bool kLog>
  void softmax() {
    m.impl(Softmax<kLog>::op_name().c_str(), &Softmax<kLog>::forward);
    m.impl((Softmax<kLog>::op_name() + "_backward").c_str(), &Softmax<kLog>::backward);
    m.impl((Softmax<kLog>::op_name() + "_backward_").c_str(), &Softmax<kLog>::backward_inplace);
  }
};

}  // namespace autograd
}  // namespace torch_activations
