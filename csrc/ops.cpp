// The schemas of every op, in one place. Kernels are registered per backend
// (cpu/cpu_backend.h, cuda/kernels.cu); fake kernels and autograd in Python.
#include <torch/library.h>

#include <string>

namespace {

// name, extra parameters after the tensor(s)
struct PointwiseSchema {
  const char* name;
  const char* params;
};

constexpr PointwiseSchema kPointwise[] = {
    {"relu", ""},
    {"leaky_relu", ", float negative_slope"},
    {"relu6", ""},
    {"leaky_relu6", ", float negative_slope"},
    {"elu", ", float alpha"},
    {"selu", ""},
    {"celu", ", float alpha"},
    {"sigmoid", ""},
    {"tanh", ""},
    {"silu", ""},
    {"swish", ", float beta"},
    {"hardswish", ""},
    {"hardsigmoid", ""},
    {"mish", ""},
    {"gelu", ", str approximate"},
    {"softplus", ", float beta, float threshold"},
};

}  // namespace

TORCH_LIBRARY(torch_activations, m) {
  for (const auto& op : kPointwise) {
    const std::string name = op.name, params = op.params;
    // out-of-place forward, in-place forward, and backward from the saved tensor
    m.def((name + "(Tensor x" + params + ") -> Tensor").c_str());
    m.def((name + "_(Tensor(a!) x" + params + ") -> ()").c_str());
    m.def((name + "_backward(Tensor grad, Tensor saved" + params + ") -> Tensor").c_str());
  }
  m.def("prelu(Tensor x, Tensor weight) -> Tensor");
  m.def("prelu_backward(Tensor grad, Tensor x, Tensor weight) -> (Tensor, Tensor)");
  m.def("swish_learnable(Tensor x, Tensor weight) -> Tensor");
  m.def("swish_learnable_backward(Tensor grad, Tensor x, Tensor weight) -> (Tensor, Tensor)");
  m.def("softmax(Tensor x, int dim) -> Tensor");
  m.def("softmax_backward(Tensor grad, Tensor out, int dim) -> Tensor");
  m.def("log_softmax(Tensor x, int dim) -> Tensor");
  m.def("log_softmax_backward(Tensor grad, Tensor out, int dim) -> Tensor");
}
