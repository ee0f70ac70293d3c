// A tiny check counter shared by the kernel-level tests of the CUDA emulation.
#pragma once

#include <cstdio>
#include <string>

namespace kernel_tests {

struct Checker {
  int checks = 0;
  int failures = 0;
  std::string context;  // the case being checked, printed with a failure

  bool expect(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
      ++failures;
      if (failures <= 40) std::printf("FAIL [%s] %s\n", context.c_str(), what.c_str());
    }
    return ok;
  }
};

// Tests of the emulator itself (warp collectives, barriers, errors).
void emulator_tests(Checker& check);
// Tests of the CUDA launchers on CPU tensors, against float64 references.
void pointwise_tests(Checker& check);
void channelwise_tests(Checker& check);
void softmax_tests(Checker& check);
void bias_tests(Checker& check);

}  // namespace kernel_tests
