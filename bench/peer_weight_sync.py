"""Peer for bench_weight_sync: what the Python RL frameworks use on CPU, in two processes.

  weights:      torch.distributed gloo broadcast of a flat uint8 buffer of --bytes bytes from rank 0
                to rank 1 (the CPU path of OpenRLHF/verl/slime weight sync), timed on both ranks
                between barriers; reports the median seconds of --reps broadcasts.
  trajectories: multiprocessing.connection (pickle over a Unix socket, as SGLang's send_pyobj does
                over ZeroMQ) of --groups trajectory groups of G completions x T tokens (int32 token
                ids + float32 log-probs as numpy arrays), sender -> receiver; reports groups/s.

Prints one JSON line.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gloo_rank(rank, port, nbytes, reps, threads, queue):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    buf = torch.empty(nbytes, dtype=torch.uint8)
    if rank == 0:
        buf.random_(0, 256)
    dist.broadcast(buf, src=0)  # warm-up: connections, first touch
    times = []
    for _ in range(reps):
        dist.barrier()
        t0 = time.perf_counter()
        dist.broadcast(buf, src=0)
        dist.barrier()  # rank 0's broadcast returns once sent; the barrier waits for rank 1 to have it
        times.append(time.perf_counter() - t0)
    if rank == 1:
        queue.put(times)
    dist.destroy_process_group()


def bench_gloo(nbytes, reps, threads):
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=gloo_rank, args=(r, port, nbytes, reps, threads, queue)) for r in range(2)]
    for p in procs:
        p.start()
    times = queue.get(timeout=600)
    for p in procs:
        p.join()
    times.sort()
    return {"bytes": nbytes, "seconds": times, "median_s": times[len(times) // 2]}


def make_group(g, t, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "batch_id": seed,
        "prompt": {"prompt_id": seed, "tokens": rng.integers(0, 32000, 64, dtype=np.int32), "row": {"answer": "42"}},
        "completions": [
            {
                "text": "x" * (4 * t),
                "tokens": rng.integers(0, 32000, t, dtype=np.int32),
                "logprobs": rng.standard_normal(t).astype(np.float32),
                "finish_reason": "length",
                "version_start": 1,
                "version_end": 1,
            }
            for _ in range(g)
        ],
    }


def traj_receiver(address, n, queue):
    from multiprocessing.connection import Listener

    with Listener(address, family="AF_UNIX") as listener:
        queue.put("ready")
        with listener.accept() as conn:
            got = 0
            nbytes = 0
            while got < n:
                b = conn.recv_bytes()
                nbytes += len(b)
                import pickle

                pickle.loads(b)  # decode, as the receiver must
                got += 1
            queue.put((time.perf_counter(), nbytes))


def bench_trajectories(n, g, t):
    import multiprocessing as mp
    import pickle
    from multiprocessing.connection import Client

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    address = os.path.join(tempfile.mkdtemp(), "traj.sock")
    recv = ctx.Process(target=traj_receiver, args=(address, n, queue))
    recv.start()
    assert queue.get(timeout=60) == "ready"
    groups = [make_group(g, t, i) for i in range(16)]
    with Client(address, family="AF_UNIX") as conn:
        t0 = time.perf_counter()
        for i in range(n):
            conn.send_bytes(pickle.dumps(groups[i % 16], protocol=5))
        t_end, nbytes = queue.get(timeout=600)
    recv.join()
    secs = t_end - t0  # perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes
    return {"groups": n, "seconds": secs, "groups_per_s": n / secs, "mb_per_s": nbytes / secs / 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["weights", "trajectories"])
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--groups", type=int, default=2000)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=256)
    a = ap.parse_args()
    try:
        if a.what == "weights":
            out = bench_gloo(a.bytes, a.reps, a.threads)
        else:
            out = bench_trajectories(a.groups, a.group_size, a.tokens)
    except ImportError as e:
        out = {"error": f"missing package: {e}"}
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
