"""Run a function on 2 gloo ranks on 127.0.0.1, bounded in time, and gather
what each rank returns (the multi-process tests' one launcher)."""

import datetime
import os
import socket
import sys
import tempfile
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, fn, port, folder):
    sys.path.insert(0, os.path.dirname(__file__))
    torch.set_num_threads(1)
    result = None
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                                timeout=datetime.timedelta(seconds=int(os.environ.get("TA_DIST_TIMEOUT", "60"))))
        try:
            result = fn(rank)
        finally:
            dist.destroy_process_group()
    except BaseException:
        result = {"error": traceback.format_exc()}
    torch.save(result, os.path.join(folder, f"{rank}.pt"))
    # the result is written: leave without the interpreter's teardown, where a
    # library's static threads may abort the process after the work is done
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run(fn, timeout=240):
    """[fn(rank) for each rank]; fn must be a module-level function. A rank's
    exception comes back as its traceback, in an AssertionError."""
    with tempfile.TemporaryDirectory() as folder:
        context = mp.start_processes(_rank_main, args=(fn, _free_port(), folder), nprocs=WORLD, join=False,
                                     start_method="spawn")
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        while not context.join(timeout=1):
            if datetime.datetime.now() > deadline:
                for process in context.processes:
                    process.kill()
                raise AssertionError(f"{fn.__name__}: the ranks ran past {timeout} s")
        results = [torch.load(os.path.join(folder, f"{rank}.pt"), weights_only=False) for rank in range(WORLD)]
    for rank, result in enumerate(results):
        if isinstance(result, dict) and "error" in result:
            raise AssertionError(f"{fn.__name__}, rank {rank}:\n{result['error']}")
    return results
