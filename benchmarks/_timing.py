"""Measurement primitives: interleaved timing of competitors and the count of
bytes autograd keeps for backward."""

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

WARMUP_CALLS = 3
MIN_ROUNDS, MAX_ROUNDS = 5, 200


@dataclass
class Competitor:
    """One way of computing the case: `call` is timed, `reset` runs untimed after it."""

    call: Callable[[], None]
    reset: Callable[[], None] = lambda: None


class CpuTimer:
    """Wall-clock time of each call; CPU kernels are synchronous."""

    def time(self, fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def end_round(self):
        pass

    def seconds(self, token):
        return token


class CudaTimer:
    """An event pair around each call, read after one synchronize per round so
    that the host never waits between the calls of a round."""

    def time(self, fn):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        return start, end

    def end_round(self):
        torch.cuda.synchronize()

    def seconds(self, token):
        start, end = token
        return start.elapsed_time(end) / 1e3


def timer_for(device: str):
    return CudaTimer() if device == "cuda" else CpuTimer()


def _run_round(competitors, names, timer):
    tokens = {}
    for name in names:
        tokens[name] = timer.time(competitors[name].call)
        competitors[name].reset()
    timer.end_round()
    return {name: timer.seconds(token) for name, token in tokens.items()}


def _rotated(names, shift):
    shift %= len(names)
    return names[shift:] + names[:shift]


def measure_interleaved(
    competitors: Dict[str, Competitor], timer, seconds_each: float,
    min_rounds: int = MIN_ROUNDS, max_rounds: int = MAX_ROUNDS,
) -> Dict[str, List[float]]:
    """Seconds per call of each competitor, sampled side by side.

    Every round runs each competitor once, in an order rotated per round, so
    that drift in clock speed or background load hits all of them alike. The
    round count aims at about `seconds_each` of calls per competitor.
    """
    names = list(competitors)
    warmup = [_run_round(competitors, names, timer) for _ in range(WARMUP_CALLS)]
    # the fastest warm-up call of each sizes the run: a first call can be far slower
    per_call = statistics.fmean(min(w[name] for w in warmup) for name in names)
    rounds = int(min(max_rounds, max(min_rounds, seconds_each / max(per_call, 1e-9))))
    samples = {name: [] for name in names}
    for r in range(rounds):
        for name, seconds in _run_round(competitors, _rotated(names, r), timer).items():
            samples[name].append(seconds)
    return samples


def describe(samples: List[float]) -> dict:
    """Median (the figure reported), with the spread kept for judging noise."""
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median_s": statistics.median(samples), "min_s": min(samples),
            "p25_s": q[0], "p75_s": q[2], "rounds": len(samples)}


def saved_tensor_bytes(fn: Callable, *args, **kwargs) -> int:
    """Bytes of the distinct storages that autograd saves while `fn` runs forward.

    Tensors sharing a storage (views, or the same tensor saved twice) count
    once; saved inputs count too, leaves included, because they stay alive for
    backward whether or not the caller still holds them.
    """
    storages: Dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return sum(storages.values())


def fresh_fill_ms(numel: int = 2**24, repeats: int = 20) -> Optional[float]:
    """Median ms to allocate and fill a new float32 tensor, over the second
    half of the calls (the first few fault in the heap in any case): high when
    the allocator hands big blocks back to the OS and every call page-faults."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.empty(numel).fill_(1.0)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[repeats // 2:]) * 1e3
