#!/usr/bin/env python3
"""tinyad against PyTorch on the same VAE, same machine, alternating runs.

The model is the reference VAE, the PyTorch examples/vae model: 784-400-20,
ReLU, Adam 1e-3, batch 128, grayscale targets, BCE summed + closed-form KL,
one pass over the 60000 MNIST training images per epoch.

For each thread count, the script alternates `tinyad train vae` and the
PyTorch reference below (each a fresh process), RUNS times each, and reports
the median epoch time (every epoch but each run's first, which warms up),
the spread, the peak resident memory of the whole process (getrusage of the
child), and the ratios tinyad / PyTorch, plus tinyad's 1 -> 2 thread
speed-up.

    apt-get install -y python3-torch
    python3 tools/bench/bench_vs_torch.py --data DIR \\
        --tinyad build/tools/tinyad/tinyad --threads 1,2 --runs 3 --epochs 3

DIR holds the MNIST IDX files (train-images-idx3-ubyte.gz and the others).

PyTorch's threads: intra-op threads --torch-threads (default 1) and BLAS
threads equal to the thread count (OpenBLAS, which Debian's torch calls for
matmul): on a 2-core machine, torch at 1 thread with OpenBLAS at 2 was its
fastest setting measured. Pass --torch-threads 0 to use T for both.
"""
import argparse
import csv
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def load_images(path):
    """An IDX image file (gzip or plain) as bytes and its count."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code != 0x08 or ndim != 3:
        raise SystemExit(f"{path}: not an unsigned-byte IDX image file")
    n, h, w = struct.unpack(">III", data[4:16])
    return data[16:16 + n * h * w], n, h * w


def find_images(data_dir):
    for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"no train-images-idx3-ubyte(.gz) in {data_dir}; pass --data DIR with MNIST")


def torch_worker(args):
    """The PyTorch reference: train for args.epochs, print epoch times as JSON."""
    import torch
    import torch.nn.functional as F
    from torch import nn, optim

    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    raw, n, dim = load_images(find_images(args.data))
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(n, dim).float() / 255

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar

    model = VAE()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    times, losses = [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm, total = torch.randperm(n), 0.0
        for i in range(0, n, args.batch):
            data = x.index_select(0, perm[i:i + args.batch])
            opt.zero_grad()
            recon, mu, logvar = model(data)
            loss = F.binary_cross_entropy(recon, data, reduction="sum") \
                - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss.backward()
            total += loss.item()
            opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(total / n)
    print(json.dumps({"epoch_s": times, "train_loss": losses, "torch": torch.__version__}))


def run_measured(cmd, env, log_path):
    """Runs cmd as a child process, its output to log_path; returns its
    peak resident memory in MiB (getrusage of that child alone)."""
    pid = os.fork()
    if pid == 0:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(log_path) as f:
            raise SystemExit(f"{' '.join(cmd)} failed with status {code}:\n{f.read()}")
    return ru.ru_maxrss / 1024.0


def tinyad_run(args, threads, out_dir):
    cmd = [args.tinyad, "train", "vae", "--data", args.data, "--epochs", str(args.epochs),
           "--batch", str(args.batch), "--lr", "1e-3", "--hidden", "400", "--latent", "20",
           "--activation", "relu", "--binarize", "none", "--seed", str(args.seed),
           "--threads", str(threads), "--out", out_dir]
    rss = run_measured(cmd, dict(os.environ), out_dir + ".log")
    with open(os.path.join(out_dir, "metrics.csv")) as f:
        secs = [float(row["seconds"]) for row in csv.DictReader(f)]
    return secs[1:], rss


def torch_run(args, threads, tmp):
    out_path = os.path.join(tmp, "torch.json")
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    tt = args.torch_threads or threads
    env["OMP_NUM_THREADS"] = str(tt)
    cmd = [args.python, os.path.abspath(__file__), "--torch-worker", "--data", args.data,
           "--epochs", str(args.epochs), "--batch", str(args.batch), "--seed", str(args.seed),
           "--torch-threads", str(tt), "--json-out", out_path]
    rss = run_measured(cmd, env, os.path.join(tmp, "torch.log"))
    with open(out_path) as f:
        res = json.load(f)
    return res["epoch_s"][1:], rss, res["torch"]


def spread(xs):
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f}, n={len(xs)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="MNIST directory (IDX files)")
    ap.add_argument("--tinyad", default="build/tools/tinyad/tinyad")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is not timed)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch intra-op threads (0: the thread count)")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="the Python that has torch (Debian's python3-torch installs it for /usr/bin/python3)")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        if args.json_out:
            sys.stdout = open(args.json_out, "w")
        torch_worker(args)
        return
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first epoch is not timed)")
    find_images(args.data)
    threads = [int(t) for t in args.threads.split(",")]
    results = {}
    torch_version = "?"
    with tempfile.TemporaryDirectory() as tmp:
        for t in threads:
            r = results[t] = {"tinyad": [], "torch": [], "tinyad_rss": [], "torch_rss": []}
            for k in range(args.runs):
                out_dir = os.path.join(tmp, f"run-{t}-{k}")
                secs, rss = tinyad_run(args, t, out_dir)
                r["tinyad"] += secs
                r["tinyad_rss"].append(rss)
                secs, rss, torch_version = torch_run(args, t, tmp)
                r["torch"] += secs
                r["torch_rss"].append(rss)
                print(f"threads {t} run {k + 1}: tinyad {statistics.median(r['tinyad'][-len(secs):]):.3f} s, "
                      f"torch {statistics.median(secs):.3f} s per epoch", flush=True)
    print(f"\nmachine: {os.cpu_count()} CPUs; PyTorch {torch_version}, intra-op threads "
          f"{args.torch_threads or 'T'}, BLAS threads T; tinyad {args.tinyad}")
    print(f"{'threads':>7}  {'tinyad epoch':<32} {'PyTorch epoch':<32} {'ratio':>6}  "
          f"{'tinyad MiB':>10} {'torch MiB':>9} {'ratio':>6}")
    for t in threads:
        r = results[t]
        ratio = statistics.median(r["tinyad"]) / statistics.median(r["torch"])
        mem_a, mem_b = max(r["tinyad_rss"]), max(r["torch_rss"])
        print(f"{t:>7}  {spread(r['tinyad']):<32} {spread(r['torch']):<32} {ratio:6.3f}  "
              f"{mem_a:10.1f} {mem_b:9.1f} {mem_a / mem_b:6.3f}")
    if 1 in results and 2 in results:
        print(f"tinyad speed-up 1 -> 2 threads: "
              f"{statistics.median(results[1]['tinyad']) / statistics.median(results[2]['tinyad']):.2f}")


if __name__ == "__main__":
    main()
