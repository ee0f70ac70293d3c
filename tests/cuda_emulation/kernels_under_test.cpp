// kernels.cu (or the copy KERNELS_SOURCE names, e.g. a mutant) compiled by the
// host compiler against the CPU emulation, behind kernel_api.h. Built with
// -I csrc/cuda/emulation (the CUDA stand-ins) and -I csrc/cuda (so a copy
// elsewhere still finds "../registration.h" and "launch.h").
#ifndef KERNELS_SOURCE
#define KERNELS_SOURCE "kernels.cu"
#endif
#include KERNELS_SOURCE

#include "kernel_api.h"

namespace kernel_tests {

using torch_activations::CudaBackend;

void silu_forward(const Tensor& x, const Tensor& out) {
  CudaBackend::forward<torch_activations::SiLU>(x, out);
}
void silu_backward(const Tensor& grad, const Tensor& x, const Tensor& out) {
  CudaBackend::backward<torch_activations::SiLU>(grad, x, out, /*saved_output=*/false);
}
void prelu_forward(const Tensor& x, const Tensor& w, const Tensor& out, int64_t stride,
                   int64_t channels) {
  CudaBackend::channelwise_forward<torch_activations::PReLU>(x, w, out, stride, channels);
}
Tensor prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                      int64_t stride, int64_t channels) {
  return CudaBackend::channelwise_backward<torch_activations::PReLU>(grad, x, w, grad_x, stride,
                                                                    channels);
}
void swish_forward(const Tensor& x, const Tensor& w, const Tensor& out, int64_t stride,
                   int64_t channels) {
  CudaBackend::channelwise_forward<torch_activations::SwishLearnable>(x, w, out, stride, channels);
}
Tensor swish_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                      int64_t stride, int64_t channels) {
  return CudaBackend::channelwise_backward<torch_activations::SwishLearnable>(grad, x, w, grad_x,
                                                                             stride, channels);
}
void softmax_forward(const Tensor& x, const Tensor& out, int64_t outer, int64_t dim_size,
                     int64_t inner, bool log) {
  CudaBackend::softmax_forward(x, out, outer, dim_size, inner, log);
}
void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_x, int64_t outer,
                      int64_t dim_size, int64_t inner, bool log) {
  CudaBackend::softmax_backward(grad, out, grad_x, outer, dim_size, inner, log);
}
void gelu_bias_forward(const Tensor& x, const Tensor& bias, const Tensor& out) {
  CudaBackend::bias_forward<torch_activations::GELU>(x, bias, out, c10::string_view("none"));
}
Tensor gelu_bias_backward(const Tensor& grad, const Tensor& x, const Tensor& bias, const Tensor& grad_x) {
  return CudaBackend::bias_backward<torch_activations::GELU>(grad, x, bias, grad_x, /*saved_output=*/false,
                                                             c10::string_view("none"));
}
torch_activations::GatedShape swiglu_rows(const Tensor& x, int64_t len) {
  return {x.numel() / (2 * len), len, 2 * len, 0, len};
}
void swiglu_forward(const Tensor& x, const Tensor& bias, const Tensor& out, int64_t len) {
  CudaBackend::gated_forward<torch_activations::SiLU>(x, x, out, swiglu_rows(x, len), bias);
}
Tensor swiglu_bias_backward(const Tensor& grad, const Tensor& x, const Tensor& bias, const Tensor& grad_x,
                            int64_t len) {
  return CudaBackend::gated_bias_backward<torch_activations::SiLU>(grad, x, bias, grad_x, swiglu_rows(x, len));
}

}  // namespace kernel_tests
