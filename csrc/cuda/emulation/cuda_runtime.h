// Stand-in for <cuda_runtime.h> when kernels.cu is compiled by the host
// compiler against the CPU emulation (see emulator.h).
#pragma once

#include "emulator.h"

#define TA_CUDA_EMULATION 1

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  int maxThreadsPerBlock;
  int warpSize;
  size_t sharedMemPerBlock;
};

namespace cuda_emulation {

// A small device: with two SMs, grid-stride loops run more than once on
// test-sized inputs.
inline const cudaDeviceProp& device_properties() {
  static const cudaDeviceProp prop = [] {
    cudaDeviceProp p{};
    std::snprintf(p.name, sizeof p.name, "CUDA emulation on the CPU");
    p.major = 9;
    p.minor = 0;
    p.multiProcessorCount = 2;
    p.maxThreadsPerMultiProcessor = 2048;
    p.maxThreadsPerBlock = kMaxThreadsPerBlock;
    p.warpSize = warpSize;
    p.sharedMemPerBlock = kSharedMemPerBlock;
    return p;
  }();
  return prop;
}

}  // namespace cuda_emulation
