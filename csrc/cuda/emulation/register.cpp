// The CUDA launchers of kernels.cu compiled by the host compiler against the
// CPU emulation and registered for CPU tensors: a test-only library
// (torch_activations/_cuda_emulated*.so, built by tools/build_cuda_emulation.py)
// that the package loads instead of its CPU kernels when
// TORCH_ACTIVATIONS_CUDA_EMULATION=1, so the whole test suite runs through the
// CUDA kernels.
#include "../kernels.cu"

TORCH_LIBRARY_IMPL(torch_activations, CPU, m) {
  torch_activations::register_kernels<torch_activations::CudaBackend>(m);
}
