// CUDA's execution model on the CPU, so that csrc/cuda/kernels.cu can be
// compiled by the host compiler and its kernels and launchers run on CPU
// tensors in CI (no GPU needed).
//
// Each CUDA thread of a block is a fiber with its own small stack. A fiber runs
// until it reaches __syncthreads() or a warp collective (__shfl*_sync,
// __ballot_sync, __syncwarp, ...); the block's scheduler then resumes another.
// A warp collective resolves once every lane of its mask has arrived; a block
// barrier releases once every thread of the block waits at the same
// __syncthreads. Whatever CUDA leaves undefined and a GPU might hang or
// silently miscompute on is reported instead: divergent barriers, masks that
// name exited or missing lanes, lanes meeting at different collectives,
// deadlock, bad launch configurations. Errors are recorded, never thrown
// across fiber frames; the launch check after the launch throws them.
//
// Schedules (TORCH_ACTIVATIONS_CUDA_EMULATION_SCHEDULE):
//   round-robin           every warp in turn to its next sync point (default)
//   greedy                one warp runs as far as CUDA allows (up to a block
//                         barrier) before the next starts: what a missing
//                         __syncthreads needs to show
//   round-robin-reversed, greedy-reversed
//                         the same, with blocks, warps and lanes in reverse
//
// Threads of a block share one OS thread and never move to another, so the
// indices (threadIdx, ...) are thread_local and rewritten before each resume,
// and __shared__ variables are static thread_local. Dynamic shared memory is a
// per-launch buffer of exactly the requested size, filled with 0xFF at every
// block start (reading it before writing gives NaN). Blocks run one after
// another; atomics are therefore trivially atomic.
//
// Fibers switch with a few instructions on x86-64 (callee-saved registers,
// MXCSR, x87 control word); elsewhere, or with
// TORCH_ACTIVATIONS_CUDA_EMULATION_SWITCH=ucontext, with swapcontext (a
// signal-mask system call per switch). Either way every switch is announced
// to AddressSanitizer (__sanitizer_start/finish_switch_fiber), so it follows
// the stacks; its swapcontext interceptor, which also clears the shadow of
// the whole stack at every switch, is avoided by the fast switch.
#pragma once

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CUDA_EMULATION_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define CUDA_EMULATION_ASAN 0
#endif

#if defined(__x86_64__)
#define CUDA_EMULATION_FAST_SWITCH 1
#else
#define CUDA_EMULATION_FAST_SWITCH 0
#endif

// ------------------------------------------------------- CUDA's vocabulary

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
};

struct CUstream_st;
using cudaStream_t = CUstream_st*;

constexpr int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

// The indices of the running CUDA thread (rewritten by the scheduler). (Not
// initial-exec TLS: a library loaded after torch finds no static TLS left.)
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace cuda_emulation {

constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kSharedMemPerBlock = 48 * 1024;

struct Schedule {
  bool greedy = false;
  bool reversed = false;
};

inline bool parse_schedule(const char* name, Schedule* out) {
  const std::string s = name ? name : "";
  if (s.empty() || s == "round-robin") *out = {false, false};
  else if (s == "greedy") *out = {true, false};
  else if (s == "round-robin-reversed") *out = {false, true};
  else if (s == "greedy-reversed") *out = {true, true};
  else return false;
  return true;
}

inline const char* schedule_name(Schedule s) {
  if (s.greedy) return s.reversed ? "greedy-reversed" : "greedy";
  return s.reversed ? "round-robin-reversed" : "round-robin";
}

[[noreturn]] inline void fatal(const std::string& message) {
  std::fprintf(stderr, "CUDA emulation: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// The schedule in force: the environment's, unless a test chose one.
inline Schedule& schedule() {
  static Schedule chosen = [] {
    Schedule s;
    const char* env = std::getenv("TORCH_ACTIVATIONS_CUDA_EMULATION_SCHEDULE");
    if (!parse_schedule(env, &s)) {
      fatal(std::string("TORCH_ACTIVATIONS_CUDA_EMULATION_SCHEDULE='") + env +
            "' is not one of round-robin, greedy, round-robin-reversed, greedy-reversed");
    }
    return s;
  }();
  return chosen;
}
inline void set_schedule(Schedule s) { schedule() = s; }

inline bool use_ucontext() {
  static const bool chosen = [] {
    if (!CUDA_EMULATION_FAST_SWITCH) return true;
    const char* env = std::getenv("TORCH_ACTIVATIONS_CUDA_EMULATION_SWITCH");
    return env != nullptr && std::string(env) == "ucontext";
  }();
  return chosen;
}

// ------------------------------------------------------------ the switch

#if CUDA_EMULATION_FAST_SWITCH
// switch_context(&save, load): saves the callee-saved registers, MXCSR and the
// x87 control word on this stack, stores its pointer in *save, and continues
// on the stack `load` that an earlier call saved (or resume built). The two
// control words are reloaded only when they differ (loading them is slow and
// device code never changes them). fiber_start runs the function a new frame
// names in rbx.
extern "C" void cuda_emulation_switch_context(void** save, void* load)
    __attribute__((visibility("hidden")));
extern "C" void cuda_emulation_fiber_start() __attribute__((visibility("hidden")));
asm(R"(
  .pushsection .text.cuda_emulation_switch_context,"axG",@progbits,cuda_emulation_switch_context,comdat
  .globl cuda_emulation_switch_context
  .hidden cuda_emulation_switch_context
  .type cuda_emulation_switch_context,@function
  .p2align 4
cuda_emulation_switch_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  pushq $0
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq (%rsp), %rax
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  cmpq (%rsp), %rax
  je 1f
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
1:
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emulation_switch_context, .-cuda_emulation_switch_context
  .popsection

  .pushsection .text.cuda_emulation_fiber_start,"axG",@progbits,cuda_emulation_fiber_start,comdat
  .globl cuda_emulation_fiber_start
  .hidden cuda_emulation_fiber_start
  .type cuda_emulation_fiber_start,@function
  .p2align 4
cuda_emulation_fiber_start:
  call *%rbx
  ud2
  .size cuda_emulation_fiber_start, .-cuda_emulation_fiber_start
  .popsection
)");
#endif

// ------------------------------------------------------------- the state

// One stack: mmap'd, a PROT_NONE guard page below it, reused across fibers.
struct Stack {
  char* map = nullptr;  // guard page first
  size_t map_size = 0;
  void* sp = nullptr;   // fast switch: the saved stack pointer
  ucontext_t uc;        // fallback switch
  bool dirty = false;   // abandoned mid-frame (ASan shadow needs clearing)
  char* lo() const { return map + page_size(); }
  size_t size() const { return map_size - page_size(); }
  static size_t page_size() {
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    return page;
  }
};

// Big enough for the kernels and libm; sanitizer reports need more.
constexpr size_t kStackBytes = CUDA_EMULATION_ASAN ? 512 * 1024 : 64 * 1024;

enum class Status : uint8_t { kNew, kReady, kAtBarrier, kAtWarpOp, kExited };
enum class WarpOp : uint8_t { kShfl, kShflXor, kShflUp, kShflDown, kBallot, kAny, kAll, kSyncwarp };

inline const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::kShfl: return "__shfl_sync";
    case WarpOp::kShflXor: return "__shfl_xor_sync";
    case WarpOp::kShflUp: return "__shfl_up_sync";
    case WarpOp::kShflDown: return "__shfl_down_sync";
    case WarpOp::kBallot: return "__ballot_sync";
    case WarpOp::kAny: return "__any_sync";
    case WarpOp::kAll: return "__all_sync";
    case WarpOp::kSyncwarp: return "__syncwarp";
  }
  return "?";
}

// One CUDA thread.
struct Fiber {
  Status status = Status::kNew;
  WarpOp op = WarpOp::kSyncwarp;
  uint8_t bytes = 0;  // size of the shuffled value
  unsigned mask = 0;
  int arg = 0, width = 32;
  uint64_t value = 0, result = 0;
  const char* file = "";  // where it waits
  int line = 0;
  uint3 tid{0, 0, 0};
  Stack* stack = nullptr;
};

// Per OS thread: the launch in progress and the pool of stacks.
struct Runtime {
  std::vector<Fiber> fibers;
  Fiber* current = nullptr;
  bool in_launch = false;
  bool failed = false;  // an error in this launch: stop scheduling
  void (*body)(void*) = nullptr;
  void* body_ctx = nullptr;
  void* sched_sp = nullptr;
  ucontext_t sched_uc;
  const void* sched_lo = nullptr;  // the scheduler's stack, for ASan
  size_t sched_size = 0;
  std::vector<Stack*> free_stacks;
  unsigned char* dynamic_shared = nullptr;
  // the first error since the last check
  cudaError_t error = cudaSuccess;
  std::string message;
  // describing the launch in progress, for messages
  const char* kernel = "";
  // the warp step in progress (see step_warp)
  Fiber* step_lanes = nullptr;
  int step_count = 0, step_index = 0;
  bool step_reversed = false;

  ~Runtime() {
    for (Stack* s : free_stacks) {
      munmap(s->map, s->map_size);
      delete s;
    }
  }
};

inline thread_local Runtime* tls_runtime = nullptr;

inline Runtime* create_runtime() {
  static thread_local std::unique_ptr<Runtime> owner;  // freed when the thread ends
  owner.reset(new Runtime);
  tls_runtime = owner.get();
  return tls_runtime;
}

inline Runtime& runtime() {
  Runtime* rt = tls_runtime;
  if (__builtin_expect(rt == nullptr, 0)) rt = create_runtime();
  return *rt;
}

inline std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format(const char* fmt, ...) {
  char buf[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

inline void record_error(cudaError_t code, const std::string& message) {
  Runtime& rt = runtime();
  rt.failed = true;
  if (rt.error != cudaSuccess) return;  // keep the first
  rt.error = code;
  rt.message = message;
}

// An error inside a running block: names the kernel, the block and the place.
inline void block_error(const std::string& what) {
  record_error(cudaErrorLaunchFailure,
               format("%s<<<(%u,%u,%u), (%u,%u,%u)>>>, block (%u,%u,%u), %s schedule: %s",
                      runtime().kernel, gridDim.x, gridDim.y, gridDim.z, blockDim.x, blockDim.y,
                      blockDim.z, blockIdx.x, blockIdx.y, blockIdx.z,
                      schedule_name(schedule()), what.c_str()));
}

// ------------------------------------------------------------ the fibers

inline Stack* acquire_stack() {
  Runtime& rt = runtime();
  Stack* s;
  if (!rt.free_stacks.empty()) {
    s = rt.free_stacks.back();
    rt.free_stacks.pop_back();
  } else {
    s = new Stack;
    s->map_size = kStackBytes + Stack::page_size();
    void* p = mmap(nullptr, s->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fatal("cannot map a fiber stack");
    s->map = static_cast<char*>(p);
    if (mprotect(s->map, Stack::page_size(), PROT_NONE) != 0) fatal("cannot protect a fiber stack");
  }
#if CUDA_EMULATION_ASAN
  if (s->dirty) __asan_unpoison_memory_region(s->lo(), s->size());
#endif
  s->dirty = false;
  return s;
}

inline void release_stack(Stack* s) { runtime().free_stacks.push_back(s); }

// The fiber's side of a switch: back to the scheduler (for good if exiting).
inline void leave_fiber(bool exiting) {
  Runtime& rt = runtime();
  Stack* s = rt.current->stack;
#if CUDA_EMULATION_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(exiting ? nullptr : &fake, rt.sched_lo, rt.sched_size);
#endif
  (void)exiting;
#if CUDA_EMULATION_FAST_SWITCH
  if (!use_ucontext()) {
    cuda_emulation_switch_context(&s->sp, rt.sched_sp);
  } else
#endif
  {
    swapcontext(&s->uc, &rt.sched_uc);
  }
#if CUDA_EMULATION_ASAN
  Runtime& back = runtime();
  __sanitizer_finish_switch_fiber(fake, &back.sched_lo, &back.sched_size);
#endif
}

inline void fiber_main() {
  Runtime& rt = runtime();
#if CUDA_EMULATION_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &rt.sched_lo, &rt.sched_size);
#endif
  for (;;) {
    try {
      rt.body(rt.body_ctx);
    } catch (const std::exception& e) {
      block_error(std::string("a device function threw: ") + e.what());
    } catch (...) {
      block_error("a device function threw");
    }
    Fiber* done = rt.current;
    done->status = Status::kExited;
    // The lane the scheduler would start next, if it has not started yet,
    // runs on this very stack: a warp that never waits costs two switches.
    const int next = rt.step_index + 1;
    if (rt.failed || next >= rt.step_count) break;
    Fiber& lane = rt.step_lanes[rt.step_reversed ? rt.step_count - 1 - next : next];
    if (lane.status != Status::kNew) break;
    rt.step_index = next;
    lane.stack = done->stack;
    done->stack = nullptr;
    lane.status = Status::kReady;
    threadIdx = lane.tid;
    rt.current = &lane;
  }
  leave_fiber(/*exiting=*/true);
  fatal("an exited fiber was resumed");
}

inline void ucontext_entry() { fiber_main(); }

// The scheduler's side: run fiber f until it waits or exits (and, on its
// stack, the lanes after it that start and exit without waiting).
inline void resume(Fiber& f) {
  Runtime& rt = runtime();
  if (f.status == Status::kNew) {
    f.stack = acquire_stack();
    Stack* s = f.stack;
#if CUDA_EMULATION_FAST_SWITCH
    if (!use_ucontext()) {
      // The frame switch_context pops: MXCSR and x87 control word, r15..r12,
      // rbx (the function fiber_start calls), rbp, the return address. Its
      // top is 16-byte aligned, as a call needs.
      auto* top = reinterpret_cast<uint64_t*>(s->lo() + s->size());
      uint64_t* frame = top - 8;
      uint32_t mxcsr;
      uint16_t fpcw;
      asm volatile("stmxcsr %0" : "=m"(mxcsr));
      asm volatile("fnstcw %0" : "=m"(fpcw));
      frame[0] = uint64_t(mxcsr) | (uint64_t(fpcw) << 32);
      frame[1] = frame[2] = frame[3] = frame[4] = 0;  // r15, r14, r13, r12
      frame[5] = reinterpret_cast<uint64_t>(&fiber_main);  // rbx
      frame[6] = 0;  // rbp
      frame[7] = reinterpret_cast<uint64_t>(&cuda_emulation_fiber_start);
      s->sp = frame;
    } else
#endif
    {
      getcontext(&s->uc);
      s->uc.uc_stack.ss_sp = s->lo();
      s->uc.uc_stack.ss_size = s->size();
      s->uc.uc_link = nullptr;
      makecontext(&s->uc, &ucontext_entry, 0);
    }
  }
  f.status = Status::kReady;
  threadIdx = f.tid;
  rt.current = &f;
#if CUDA_EMULATION_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack->lo(), f.stack->size());
#endif
#if CUDA_EMULATION_FAST_SWITCH
  if (!use_ucontext()) {
    cuda_emulation_switch_context(&rt.sched_sp, f.stack->sp);
  } else
#endif
  {
    swapcontext(&rt.sched_uc, &f.stack->uc);
  }
#if CUDA_EMULATION_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  Fiber* last = rt.current;  // f, or the last lane that ran on its stack
  rt.current = nullptr;
  if (last->status == Status::kExited) {
    release_stack(last->stack);
    last->stack = nullptr;
  }
}

inline Fiber& self(const char* what) {
  Fiber* f = runtime().current;
  if (f == nullptr) fatal(std::string(what) + " called outside a kernel");
  return *f;
}

// ------------------------------------------------------ the block scheduler

inline std::string where(const Fiber& f) { return format("%s:%d", f.file, f.line); }
inline std::string who(const Fiber& f) {
  return format("thread (%u,%u,%u)", f.tid.x, f.tid.y, f.tid.z);
}

struct Block {
  Fiber* fibers;
  int threads;
  int warps;
};

inline unsigned lanes_present(const Block& b, int warp) {
  const int count = std::min(32, b.threads - warp * 32);
  return count == 32 ? ~0u : (1u << count) - 1;
}

// The value lane `lane` of a group receives from a shuffle, or -1 when the
// source lane is outside the group.
inline int shuffle_source(const Fiber& f, int lane) {
  const int width = f.width;
  const int segment = lane & ~(width - 1);
  switch (f.op) {
    case WarpOp::kShfl: return segment + (f.arg & (width - 1));
    case WarpOp::kShflXor: {
      const int src = lane ^ f.arg;
      return src >= segment + width ? lane : src;
    }
    case WarpOp::kShflUp: return (lane - segment) >= f.arg ? lane - f.arg : lane;
    case WarpOp::kShflDown: return (lane - segment) + f.arg < width ? lane + f.arg : lane;
    default: return lane;
  }
}

// Resolves every warp collective of `warp` whose lanes have all arrived.
// Returns whether any lane was released.
inline bool resolve_warp(Block& b, int warp) {
  Fiber* lanes = b.fibers + warp * 32;
  const unsigned present = lanes_present(b, warp);
  bool released = false;
  for (int lane = 0; lane < 32; ++lane) {
    if (!(present >> lane & 1u)) break;
    Fiber& f = lanes[lane];
    if (f.status != Status::kAtWarpOp) continue;
    const unsigned mask = f.mask;
    if (!(mask >> lane & 1u)) {
      block_error(format("%s at %s: %s passes mask 0x%08x, which does not name its own lane %d",
                         op_name(f.op), where(f).c_str(), who(f).c_str(), mask, lane));
      return false;
    }
    if (mask & ~present) {
      block_error(format("%s at %s: mask 0x%08x names lanes that warp %d does not have "
                         "(the block has %d threads)",
                         op_name(f.op), where(f).c_str(), mask, warp, b.threads));
      return false;
    }
    bool complete = true;
    for (int j = 0; j < 32; ++j) {
      if (!(mask >> j & 1u)) continue;
      const Fiber& g = lanes[j];
      if (g.status == Status::kExited) {
        block_error(format("%s at %s (%s): mask 0x%08x names lane %d, which has exited",
                           op_name(f.op), where(f).c_str(), who(f).c_str(), mask, j));
        return false;
      }
      if (g.status == Status::kAtWarpOp) {
        if (g.mask != mask || g.op != f.op || g.bytes != f.bytes) {
          block_error(format("lanes %d and %d of warp %d meet at different warp collectives: "
                             "%s(mask 0x%08x) at %s and %s(mask 0x%08x) at %s",
                             lane, j, warp, op_name(f.op), mask, where(f).c_str(),
                             op_name(g.op), g.mask, where(g).c_str()));
          return false;
        }
      } else {
        complete = false;
      }
    }
    if (!complete) continue;
    // Everyone is here: compute every lane's result, then release them.
    unsigned votes = 0;
    for (int j = 0; j < 32; ++j) {
      if ((mask >> j & 1u) && lanes[j].value != 0) votes |= 1u << j;
    }
    for (int j = 0; j < 32; ++j) {
      if (!(mask >> j & 1u)) continue;
      Fiber& g = lanes[j];
      switch (g.op) {
        case WarpOp::kBallot: g.result = votes; break;
        case WarpOp::kAny: g.result = votes != 0; break;
        case WarpOp::kAll: g.result = votes == mask; break;
        case WarpOp::kSyncwarp: break;
        default: {
          const int src = shuffle_source(g, j);
          if (src < 0 || src > 31 || !(mask >> src & 1u)) {
            block_error(format("%s at %s: lane %d reads lane %d, which is not in mask 0x%08x",
                               op_name(g.op), where(g).c_str(), j, src, mask));
            return false;
          }
          g.result = lanes[src].value;
        }
      }
    }
    for (int j = 0; j < 32; ++j) {
      if (mask >> j & 1u) lanes[j].status = Status::kReady;
    }
    released = true;
  }
  return released;
}

// Runs every runnable lane of `warp` once, in schedule order, then resolves
// its collectives. Returns whether anything happened.
inline bool step_warp(Block& b, int warp, bool reversed) {
  Runtime& rt = runtime();
  rt.step_lanes = b.fibers + warp * 32;
  rt.step_count = std::min(32, b.threads - warp * 32);
  rt.step_reversed = reversed;
  bool ran = false;
  // step_index advances past lanes that fiber_main ran on the same stack
  for (rt.step_index = 0; rt.step_index < rt.step_count; ++rt.step_index) {
    const int i = rt.step_index;
    Fiber& f = rt.step_lanes[reversed ? rt.step_count - 1 - i : i];
    if (f.status == Status::kNew || f.status == Status::kReady) {
      resume(f);
      ran = true;
      if (rt.failed) return false;
    }
  }
  return resolve_warp(b, warp) || ran;
}

// Everyone is blocked: release a barrier all live threads wait at, finish,
// or report why nothing can move. Returns false when the block is done.
inline bool release_barrier(Block& b) {
  const Fiber* waiting = nullptr;
  const Fiber* exited = nullptr;
  const Fiber* in_warp_op = nullptr;
  for (int t = 0; t < b.threads; ++t) {
    const Fiber& f = b.fibers[t];
    if (f.status == Status::kAtBarrier) {
      if (waiting == nullptr) {
        waiting = &f;
      } else if (f.line != waiting->line ||
                 (f.file != waiting->file && std::strcmp(f.file, waiting->file) != 0)) {
        block_error(format("divergent __syncthreads: %s waits at %s, %s at %s",
                           who(*waiting).c_str(), where(*waiting).c_str(), who(f).c_str(),
                           where(f).c_str()));
        return false;
      }
    } else if (f.status == Status::kExited) {
      if (exited == nullptr) exited = &f;
    } else if (f.status == Status::kAtWarpOp) {
      if (in_warp_op == nullptr) in_warp_op = &f;
    }
  }
  if (waiting == nullptr && in_warp_op == nullptr) return false;  // all exited
  if (in_warp_op != nullptr) {
    // A collective that cannot complete: some lane of its mask waits at a
    // block barrier (the others cannot reach it first).
    const int warp = int(in_warp_op - b.fibers) / 32;
    for (int j = 0; j < 32; ++j) {
      const int t = warp * 32 + j;
      if (t < b.threads && (in_warp_op->mask >> j & 1u) &&
          b.fibers[t].status == Status::kAtBarrier) {
        block_error(format("deadlock: %s waits in %s(mask 0x%08x) at %s for lane %d, which "
                           "waits at __syncthreads at %s",
                           who(*in_warp_op).c_str(), op_name(in_warp_op->op), in_warp_op->mask,
                           where(*in_warp_op).c_str(), j, where(b.fibers[t]).c_str()));
        return false;
      }
    }
    block_error(format("deadlock: %s waits in %s(mask 0x%08x) at %s", who(*in_warp_op).c_str(),
                       op_name(in_warp_op->op), in_warp_op->mask, where(*in_warp_op).c_str()));
    return false;
  }
  if (exited != nullptr) {
    block_error(format("__syncthreads at %s is reached by some threads while %s has exited "
                       "(a barrier in divergent code)",
                       where(*waiting).c_str(), who(*exited).c_str()));
    return false;
  }
  for (int t = 0; t < b.threads; ++t) b.fibers[t].status = Status::kReady;
  return true;
}

inline void run_block(Block& b, Schedule s) {
  Runtime& rt = runtime();
  for (;;) {
    bool progress = false;
    for (int i = 0; i < b.warps; ++i) {
      const int warp = s.reversed ? b.warps - 1 - i : i;
      if (s.greedy) {
        while (step_warp(b, warp, s.reversed)) progress = true;
      } else {
        progress |= step_warp(b, warp, s.reversed);
      }
      if (rt.failed) return;
    }
    if (!progress && !release_barrier(b)) return;
  }
}

// Drops the fibers of a failed block; their frames are never resumed.
inline void abandon(Block& b) {
  for (int t = 0; t < b.threads; ++t) {
    Fiber& f = b.fibers[t];
    if (f.stack != nullptr) {
      f.stack->dirty = true;
      release_stack(f.stack);
      f.stack = nullptr;
    }
  }
}

inline bool valid_configuration(const char* kernel, dim3 grid, dim3 block, size_t smem) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  std::string problem;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0) {
    problem = "a zero grid or block dimension";
  } else if (threads > uint64_t(kMaxThreadsPerBlock) || block.x > 1024 || block.y > 1024 ||
             block.z > 64) {
    problem = format("%llu threads per block (at most %d; x, y <= 1024, z <= 64)",
                     (unsigned long long)threads, kMaxThreadsPerBlock);
  } else if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    problem = "a grid dimension over its limit (x < 2^31, y and z <= 65535)";
  } else if (smem > kSharedMemPerBlock) {
    problem = format("%zu bytes of dynamic shared memory (at most %zu)", smem, kSharedMemPerBlock);
  }
  if (problem.empty()) return true;
  record_error(cudaErrorInvalidConfiguration,
               format("%s<<<(%u,%u,%u), (%u,%u,%u), %zu>>>: invalid configuration: %s", kernel,
                      grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, problem.c_str()));
  return false;
}

// Runs body(ctx) as every thread of every block of the grid.
inline void launch_grid(const char* kernel, dim3 grid, dim3 block, size_t smem,
                        void (*body)(void*), void* ctx) {
  Runtime& rt = runtime();
  if (rt.in_launch) fatal("a kernel launched another kernel");
  if (!valid_configuration(kernel, grid, block, smem)) return;
  const Schedule s = schedule();
  const int threads = int(block.x * block.y * block.z);
  rt.in_launch = true;
  rt.failed = false;
  rt.kernel = kernel;
  rt.body = body;
  rt.body_ctx = ctx;
  rt.fibers.assign(size_t(threads), Fiber{});
  std::unique_ptr<unsigned char[]> shared(new unsigned char[smem]);
  rt.dynamic_shared = shared.get();
  gridDim = grid;
  blockDim = block;
  Block b{rt.fibers.data(), threads, (threads + 31) / 32};
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t i = 0; i < blocks && !rt.failed; ++i) {
    const uint64_t k = s.reversed ? blocks - 1 - i : i;
    blockIdx = uint3{unsigned(k % grid.x), unsigned(k / grid.x % grid.y),
                     unsigned(k / (uint64_t(grid.x) * grid.y))};
    std::memset(shared.get(), 0xFF, smem);
    for (int t = 0; t < threads; ++t) {
      Fiber& f = rt.fibers[size_t(t)];
      f = Fiber{};
      f.tid = uint3{unsigned(t) % block.x, unsigned(t) / block.x % block.y,
                    unsigned(t) / (block.x * block.y)};
    }
    run_block(b, s);
    if (rt.failed) abandon(b);
  }
  rt.in_launch = false;
  rt.dynamic_shared = nullptr;
}

template <class Body>
void invoke(void* body) {
  (*static_cast<Body*>(body))();
}

// TA_LAUNCH(grid, block, smem, stream, kernel)(args...): the arguments are
// copied once, as CUDA copies them, and every thread calls the kernel.
template <class Kernel>
struct Launch {
  const char* name;
  dim3 grid, block;
  size_t smem;
  Kernel kernel;

  template <class... Args>
  void operator()(Args&&... args) const {
    std::tuple<std::decay_t<Args>...> params(std::forward<Args>(args)...);
    auto body = [&] { std::apply([&](auto&... p) { kernel(p...); }, params); };
    launch_grid(name, grid, block, smem, &invoke<decltype(body)>, &body);
  }
};

template <class Kernel>
Launch<Kernel> launch(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t,
                      Kernel kernel) {
  return {name, grid, block, smem, kernel};
}

template <class T>
T* dynamic_shared() {
  Runtime& rt = runtime();
  if (!rt.in_launch) fatal("dynamic shared memory used outside a kernel");
  return reinterpret_cast<T*>(rt.dynamic_shared);
}

// The first error since the last call, and its message; clears both.
inline cudaError_t take_error(std::string* message) {
  Runtime& rt = runtime();
  const cudaError_t e = rt.error;
  if (message != nullptr) *message = rt.message;
  rt.error = cudaSuccess;
  rt.message.clear();
  return e;
}

template <class T>
T warp_op(WarpOp op, unsigned mask, T var, int arg, int width, const char* file, int line) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                "warp collectives exchange trivially copyable values of at most 8 bytes");
  Fiber& f = self(op_name(op));
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    block_error(format("%s at %s: width %d is not a power of two up to 32", op_name(op), file,
                       line, width));
  }
  f.status = Status::kAtWarpOp;
  f.op = op;
  f.mask = mask;
  f.arg = arg;
  f.width = width;
  f.bytes = uint8_t(sizeof(T));
  f.value = 0;
  std::memcpy(&f.value, &var, sizeof(T));
  f.file = file;
  f.line = line;
  leave_fiber(false);
  T out;
  std::memcpy(&out, &runtime().current->result, sizeof(T));
  return out;
}

}  // namespace cuda_emulation

// ------------------------------------------------------- device functions

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  cuda_emulation::Fiber& f = cuda_emulation::self("__syncthreads");
  f.status = cuda_emulation::Status::kAtBarrier;
  f.file = file;
  f.line = line;
  cuda_emulation::leave_fiber(false);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  cuda_emulation::warp_op(cuda_emulation::WarpOp::kSyncwarp, mask, 0, 0, 32, file, line);
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return cuda_emulation::warp_op(cuda_emulation::WarpOp::kShfl, mask, var, src_lane, width, file,
                                 line);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return cuda_emulation::warp_op(cuda_emulation::WarpOp::kShflXor, mask, var, lane_mask, width,
                                 file, line);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                 const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return cuda_emulation::warp_op(cuda_emulation::WarpOp::kShflUp, mask, var, int(delta), width,
                                 file, line);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return cuda_emulation::warp_op(cuda_emulation::WarpOp::kShflDown, mask, var, int(delta), width,
                                 file, line);
}
inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  return unsigned(cuda_emulation::warp_op(cuda_emulation::WarpOp::kBallot, mask,
                                          unsigned(predicate != 0), 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return int(cuda_emulation::warp_op(cuda_emulation::WarpOp::kAny, mask, unsigned(predicate != 0),
                                     0, 32, file, line));
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return int(cuda_emulation::warp_op(cuda_emulation::WarpOp::kAll, mask, unsigned(predicate != 0),
                                     0, 32, file, line));
}

// Blocks run one at a time and fibers switch only at sync points, so a plain
// read-modify-write is atomic here.
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T atomicMax(T* address, T value) {
  const T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T atomicExch(T* address, T value) {
  const T old = *address;
  *address = value;
  return old;
}
template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
T atomicCAS(T* address, T compare, T value) {
  const T old = *address;
  if (old == compare) *address = value;
  return old;
}

inline cudaError_t cudaGetLastError() { return cuda_emulation::take_error(nullptr); }
inline cudaError_t cudaPeekAtLastError() { return cuda_emulation::runtime().error; }
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}
