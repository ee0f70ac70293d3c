// The CPU kernels built for one instruction set (setup.py gives this file its
// flags), registered with the dispatcher.
#include "cpu_backend.h"

TORCH_LIBRARY_IMPL(torch_activations, CPU, m) {
  torch_activations::register_kernels<torch_activations::CPU_CAPABILITY::CpuBackend>(m);
}
