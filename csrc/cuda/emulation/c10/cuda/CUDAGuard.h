// Stand-in for <c10/cuda/CUDAGuard.h> under the CPU emulation, where the
// "device" tensors are CPU tensors.
#pragma once

#include <c10/core/Device.h>
#include <c10/util/Exception.h>

namespace c10 {
namespace cuda {

struct CUDAGuard {
  explicit CUDAGuard(c10::Device device) {
    TORCH_INTERNAL_ASSERT(device.is_cpu(), "the CUDA emulation runs on CPU tensors, got ", device);
  }
  CUDAGuard(const CUDAGuard&) = delete;
  CUDAGuard& operator=(const CUDAGuard&) = delete;
};

}  // namespace cuda
}  // namespace c10
