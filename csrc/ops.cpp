// The library every backend registers into: the schemas of every op (from
// op_table.h's for_each_op), their Meta kernels, their C++ autograd, and the
// Python module torch_activations._C, whose functions call the ops straight
// through the dispatcher (the eager fast path of torch_activations.functional;
// torch.compile, scripting and tracing see torch.ops.torch_activations.*).
// CPU and CUDA kernels are registered by their own libraries (cpu/, cuda/).
#include <torch/extension.h>

#include <string>
#include <unordered_map>
#include <type_traits>

#include "autocast.h"
#include "autograd.h"
#include "registration.h"

namespace torch_activations {
namespace {

template <class T>
constexpr const char* schema_type() {
  if constexpr (std::is_same_v<T, double>) return "float";
  else if constexpr (std::is_same_v<T, int64_t>) return "int";
  else {
    static_assert(std::is_same_v<T, c10::string_view>, "no schema type for this parameter");
    return "str";
  }
}

struct SchemaDefiner {
  torch::Library& m;

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names... names) {
    static_assert(sizeof...(P) == sizeof...(Names), "one name per parameter");
    const std::string name = Op<float>::name;
    std::string params;
    ((params += std::string(", ") + schema_type<P>() + " " + names), ...);
    // out-of-place forward, in-place forward, and backward from the saved tensor
    m.def((name + "(Tensor x" + params + ") -> Tensor").c_str());
    m.def((name + "_(Tensor(a!) x" + params + ") -> ()").c_str());
    m.def((name + "_backward(Tensor grad, Tensor saved" + params + ") -> Tensor").c_str());
    // the same, written over grad (autograd's, when nothing else holds it)
    m.def((name + "_backward_(Tensor(a!) grad, Tensor saved" + params + ") -> ()").c_str());
    // opt-in compact saved state (saved="mask" or "uint8"): output and codes, backward from codes
    if constexpr (kCodeBits<Op> > 0) {
      m.def((name + "_coded(Tensor x" + params + ") -> (Tensor, Tensor)").c_str());
      m.def((name + "_coded_backward(Tensor grad, Tensor codes" + params + ") -> Tensor").c_str());
    }
    bias(bias_name(name.c_str()), params);
  }
  // op(x + bias), and backward to the input's and the bias's gradients
  void bias(const std::string& name, const std::string& params) {
    m.def((name + "(Tensor x, Tensor bias" + params + ") -> Tensor").c_str());
    m.def((name + "_backward(Tensor grad, Tensor saved, Tensor bias" + params + ") -> (Tensor, Tensor)").c_str());
  }
  template <template <class> class Op, bool kPerChannel>
  void channelwise() {
    const std::string name = Op<float>::name;
    m.def((name + "(Tensor x, Tensor weight) -> Tensor").c_str());
    m.def((name + "_backward(Tensor grad, Tensor x, Tensor weight) -> (Tensor, Tensor)").c_str());
  }
  template <class G, class... P, class... Names>
  void gated(Names... names) {
    const std::string name = G::name;
    std::string params;
    ((params += std::string(", ") + schema_type<P>() + " " + names), ...);
    if constexpr (G::kSplit) {  // act(one half) * the other, halves along dim
      m.def((name + "(Tensor x, int dim" + params + ") -> Tensor").c_str());
      m.def((name + "_backward(Tensor grad, Tensor x, int dim" + params + ") -> Tensor").c_str());
      bias(bias_name(G::name), params);  // halves along dim -1 of x + bias
    } else {  // act(gate) * up
      m.def((name + "(Tensor gate, Tensor up" + params + ") -> Tensor").c_str());
      m.def((name + "_backward(Tensor grad, Tensor gate, Tensor up" + params + ") -> (Tensor, Tensor)").c_str());
    }
  }
  template <bool kLog>
  void softmax() {
    const std::string name = softmax_name<kLog>();
    m.def((name + "(Tensor x, int dim) -> Tensor").c_str());
    m.def((name + "_backward(Tensor grad, Tensor out, int dim) -> Tensor").c_str());
    // the same, written over grad (autograd's, when nothing else holds it)
    m.def((name + "_backward_(Tensor(a!) grad, Tensor out, int dim) -> ()").c_str());
  }
};

namespace py = pybind11;

// _C.<op>(x, params...) for every forward op, in place too: the GIL is
// released while the op runs, as torch's own bindings do.
struct PythonBindings {
  py::module_& m;

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names...) {
    using F = autograd::Pointwise<Op, P...>;
    m.def(F::op_name().c_str(), [](const Tensor& x, P... p) { return F::forward_op().call(x, p...); },
          py::call_guard<py::gil_scoped_release>());
    m.def((F::op_name() + "_").c_str(), [](const Tensor& x, P... p) { F::inplace_op().call(x, p...); },
          py::call_guard<py::gil_scoped_release>());
    // whether backward keeps the output of a call on an input of this dtype,
    // dense or not (else the input itself)
    m.def((F::op_name() + "_saves_output").c_str(),
          [](at::ScalarType dtype, bool dense, P... p) { return saves_output_for<Op>(dtype, dense, p...); });
    if constexpr (kCodeBits<Op> > 0) {  // saved="mask" or "uint8": (output, codes)
      using C = autograd::Coded<Op, P...>;
      m.def(C::op_name().c_str(), [](const Tensor& x, P... p) { return C::forward_op().call(x, p...); },
            py::call_guard<py::gil_scoped_release>());
    }
    bias<autograd::Biased<PointwiseBias<Op>, P...>, P...>();
  }
  template <class F, class... P>
  void bias() {
    m.def(F::op_name().c_str(), [](const Tensor& x, const Tensor& b, P... p) { return F::forward_op().call(x, b, p...); },
          py::call_guard<py::gil_scoped_release>());
  }
  template <template <class> class Op, bool kPerChannel>
  void channelwise() {
    using F = autograd::Channelwise<Op, kPerChannel>;
    m.def(F::op_name().c_str(), [](const Tensor& x, const Tensor& w) { return F::forward_op().call(x, w); },
          py::call_guard<py::gil_scoped_release>());
  }
  template <class G, class... P, class... Names>
  void gated(Names...) {
    using F = autograd::GatedFamily<G, P...>;
    if constexpr (G::kSplit) {
      m.def(F::op_name().c_str(), [](const Tensor& x, int64_t dim, P... p) { return F::forward_op().call(x, dim, p...); },
            py::call_guard<py::gil_scoped_release>());
      bias<autograd::Biased<GatedBias<G>, P...>, P...>();
    } else {
      m.def(F::op_name().c_str(), [](const Tensor& a, const Tensor& b, P... p) { return F::forward_op().call(a, b, p...); },
            py::call_guard<py::gil_scoped_release>());
    }
  }
  template <bool kLog>
  void softmax() {
    using F = autograd::Softmax<kLog>;
    m.def(F::op_name().c_str(), [](const Tensor& x, int64_t dim) { return F::forward_op().call(x, dim); },
          py::call_guard<py::gil_scoped_release>());
  }
};

// _C.op_table(): every entry of for_each_op as a dict, for the Python
// registry (which adds only what exists in Python alone: reference
// expressions, torch twins, docs). Parameter defaults come from the schemas.
struct TableExporter {
  py::list& table;

  static py::list names_of(std::initializer_list<const char*> names) {
    py::list out;
    for (const char* n : names) {
      const std::string s(n);
      out.append(s.substr(0, s.find('=')));
    }
    return out;
  }
  static py::list list_of(const std::vector<std::string>& items) {
    py::list out;
    for (const auto& i : items) out.append(i);
    return out;
  }
  py::dict entry(const std::string& name, const char* kind, py::list params, const std::vector<std::string>& ops) {
    py::dict d;
    d["name"] = name;
    d["kind"] = kind;
    d["params"] = params;
    d["ops"] = list_of(ops);
    table.append(d);
    return d;
  }

  template <template <class> class Op, class... P, class... Names>
  void pointwise(Names... names) {
    const std::string name = Op<float>::name;
    std::vector<std::string> ops{name, name + "_", name + "_backward", name + "_backward_"};
    if constexpr (kCodeBits<Op> > 0) ops.insert(ops.end(), {name + "_coded", name + "_coded_backward"});
    const std::string bias = bias_name(name.c_str());
    ops.insert(ops.end(), {bias, bias + "_backward"});
    auto d = entry(name, "pointwise", names_of({names...}), ops);
    d["code_bits"] = kCodeBits<Op>;
    d["bias"] = bias;
  }
  template <template <class> class Op, bool kPerChannel>
  void channelwise() {
    const std::string name = Op<float>::name;
    auto d = entry(name, "channelwise", py::list(), {name, name + "_backward"});
    d["per_channel"] = kPerChannel;
  }
  template <class G, class... P, class... Names>
  void gated(Names... names) {
    const std::string name = G::name;
    std::vector<std::string> ops{name, name + "_backward"};
    if constexpr (G::kSplit) ops.insert(ops.end(), {bias_name(G::name), bias_name(G::name) + "_backward"});
    auto d = entry(name, "gated", names_of({names...}), ops);
    d["act"] = std::string(G::template Act<float>::name);
    d["split"] = G::kSplit;
    d["act_second"] = G::kActSecond;
    if constexpr (G::kSplit) d["bias"] = bias_name(G::name);
  }
  template <bool kLog>
  void softmax() {
    const std::string name = softmax_name<kLog>();
    entry(name, "softmax", names_of({"dim"}), {name, name + "_backward", name + "_backward_"});
  }
};

// Second-order formulas by backward-op name, set from Python at import. Never
// destroyed: the Python objects must not outlive the interpreter's teardown.
std::unordered_map<std::string, py::object>& second_orders() {
  static auto* formulas = new std::unordered_map<std::string, py::object>();
  return *formulas;
}

}  // namespace

namespace autograd {

variable_list second_order(const std::string& op, const variable_list& saved,
                           const variable_list& grads, const std::vector<c10::IValue>& params) {
  py::gil_scoped_acquire gil;
  const auto found = second_orders().find(op);
  TORCH_CHECK(found != second_orders().end(), "torch_activations.", op, ": no second-order formula");
  auto tensors = [](const variable_list& list) {
    py::tuple t(list.size());
    for (size_t i = 0; i < list.size(); ++i) t[i] = list[i].defined() ? py::cast(list[i]) : py::none();
    return t;
  };
  py::tuple values(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    values[i] = p.isDouble() ? py::object(py::float_(p.toDouble()))
                : p.isInt()  ? py::object(py::int_(p.toInt()))
                             : py::object(py::str(p.toStringRef()));
  }
  py::object result;
  try {
    result = found->second(tensors(saved), tensors(grads), *values);
  } catch (py::error_already_set& e) {
    TORCH_CHECK(false, "torch_activations.", op, " (double backward): ", e.what());
  }
  variable_list out;
  for (auto item : result) out.push_back(item.is_none() ? Tensor() : py::cast<Tensor>(item));
  return out;
}

}  // namespace autograd
}  // namespace torch_activations

TORCH_LIBRARY(torch_activations, m) {
  torch_activations::for_each_op(torch_activations::SchemaDefiner{m});
}

TORCH_LIBRARY_IMPL(torch_activations, Meta, m) {
  torch_activations::register_kernels<torch_activations::MetaBackend>(m);
}

TORCH_LIBRARY_IMPL(torch_activations, AutocastCUDA, m) {
  using namespace torch_activations::autocast;
  register_policy<c10::DeviceType::CUDA, Policy::kFloat32>(m, {"softplus", "bias_softplus", "softmax", "log_softmax"});
  register_policy<c10::DeviceType::CUDA, Policy::kLowerPrecision>(m, {"prelu"});
}

TORCH_LIBRARY_IMPL(torch_activations, AutocastCPU, m) {
  using namespace torch_activations::autocast;
  register_policy<c10::DeviceType::CPU, Policy::kLowerPrecision>(m, {"prelu"});
}

TORCH_LIBRARY_IMPL(torch_activations, Autograd, m) {
  torch_activations::for_each_op(torch_activations::autograd::AutogradRegistrar{m});
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  torch_activations::for_each_op(torch_activations::PythonBindings{m});
  m.def("op_table", [] {
    py::list table;
    torch_activations::for_each_op(torch_activations::TableExporter{table});
    return table;
  });
  m.def("_register_second_order", [](const std::string& op, pybind11::object formula) {
    torch_activations::second_orders()[op] = std::move(formula);
  });
}
