// Kernel launches and dynamic shared memory written once for nvcc and for
// the host compiler against the CPU emulation (emulation/emulator.h):
//   TA_LAUNCH(grid, block, smem, stream, kernel)(args...)
//   TA_DYNAMIC_SHARED(T, name);
// Under nvcc they are exactly kernel<<<grid, block, smem, stream>>>(args...)
// and `extern __shared__ T name[]`.
#pragma once

#if defined(__CUDACC__)
#define TA_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define TA_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#else
#include <cuda_runtime.h>  // the emulation's
#define TA_LAUNCH(grid, block, smem, stream, ...)                              \
  ::cuda_emulation::launch(#__VA_ARGS__, grid, block, smem, stream,            \
                           [](auto&... ta_args) { __VA_ARGS__(ta_args...); })
#define TA_DYNAMIC_SHARED(T, name) T* const name = ::cuda_emulation::dynamic_shared<T>()
#endif
