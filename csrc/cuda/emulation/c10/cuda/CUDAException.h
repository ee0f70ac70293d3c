// Stand-in for <c10/cuda/CUDAException.h> under the CPU emulation: the launch
// check throws what the emulator recorded during the launch (errors are never
// thrown across fiber frames).
#pragma once

#include <c10/util/Exception.h>
#include <cuda_runtime.h>

#include <string>

namespace cuda_emulation {

inline void check(cudaError_t e, const char* what) {
  std::string message;
  const cudaError_t pending = take_error(&message);
  if (e == cudaSuccess) e = pending;
  TORCH_CHECK(e == cudaSuccess, "CUDA error: ", cudaGetErrorString(e), " (", what, "): ", message);
}

}  // namespace cuda_emulation

#define C10_CUDA_CHECK(EXPR) ::cuda_emulation::check((EXPR), #EXPR)
#define C10_CUDA_KERNEL_LAUNCH_CHECK() ::cuda_emulation::check(cudaSuccess, "kernel launch")
