// The launchers of kernels.cu (built against the CPU emulation, see
// kernels_under_test.cpp) as plain functions, so the tests compile once and
// link against any build of the kernels, mutants included.
#pragma once

#include <ATen/ATen.h>

namespace kernel_tests {

using at::Tensor;

void silu_forward(const Tensor& x, const Tensor& out);
void silu_backward(const Tensor& grad, const Tensor& x, const Tensor& out);
void prelu_forward(const Tensor& x, const Tensor& w, const Tensor& out, int64_t stride,
                   int64_t channels);
Tensor prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                      int64_t stride, int64_t channels);
void swish_forward(const Tensor& x, const Tensor& w, const Tensor& out, int64_t stride,
                   int64_t channels);
Tensor swish_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                      int64_t stride, int64_t channels);
void softmax_forward(const Tensor& x, const Tensor& out, int64_t outer, int64_t dim_size,
                     int64_t inner, bool log);
void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_x, int64_t outer,
                      int64_t dim_size, int64_t inner, bool log);
// gelu(x + bias) over rows of bias.numel() elements; backward from the
// input, returning the bias gradient
void gelu_bias_forward(const Tensor& x, const Tensor& bias, const Tensor& out);
Tensor gelu_bias_backward(const Tensor& grad, const Tensor& x, const Tensor& bias, const Tensor& grad_x);
// swiglu over rows of 2 * len elements, with a bias of 2 * len (or an undefined one)
void swiglu_forward(const Tensor& x, const Tensor& bias, const Tensor& out, int64_t len);
Tensor swiglu_bias_backward(const Tensor& grad, const Tensor& x, const Tensor& bias, const Tensor& grad_x,
                            int64_t len);

}  // namespace kernel_tests
