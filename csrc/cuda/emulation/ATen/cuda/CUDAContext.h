// Stand-in for <ATen/cuda/CUDAContext.h> under the CPU emulation: the
// emulated device's properties and a stream that launches ignore.
#pragma once

#include <cuda_runtime.h>

namespace at {
namespace cuda {

inline const cudaDeviceProp* getCurrentDeviceProperties() {
  return &cuda_emulation::device_properties();
}

struct CUDAStream {
  cudaStream_t stream() const { return nullptr; }
  operator cudaStream_t() const { return nullptr; }
};

inline CUDAStream getCurrentCUDAStream(int /*device*/ = -1) { return {}; }

}  // namespace cuda
}  // namespace at
