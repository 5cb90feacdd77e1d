#!/usr/bin/env python3
"""tinyad against PyTorch on the same VAE, same machine, alternating runs.

--model vae (the default) is the reference VAE, the PyTorch examples/vae
model: 784-400-20, ReLU, Adam 1e-3, batch 128, grayscale targets, BCE
summed + closed-form KL, one pass over the 60000 MNIST training images per
epoch. --model convvae is the convolutional VAE (`tinyad train convvae`,
the Keras VAE example's networks, models/convvae.h), written below in
PyTorch with the same layers, init (PyTorch's defaults), loss and
optimizer; --latent 16 by default for it.

--batches N times only the first N batches of each epoch (both programs
train on the first N * batch images: tinyad's --limit), for when whole
epochs cost too much; the epoch figures are then per N batches.

--cpu adds CPU seconds per epoch, all threads, which a loaded machine
changes much less than the wall clock: PyTorch's process_time per epoch,
and for tinyad the CPU of the run less that of the same run stopped after
one epoch, over the epochs after the first. After the table, tinyad's
epoch against its GEMM bound: bench_step's (the step's GEMMs alone, at
OpenBLAS's speed, built when libopenblas-dev is installed) times the steps
per epoch.

--quality trains each once per --seeds for --epochs epochs over the whole
training set and reports the test -ELBO per image (one z per image, beta 1:
`tinyad eval`, and the same sum for PyTorch), not times. With --same-init
PyTorch starts from tinyad's initial weights for the seed (`tinyad train
--epochs 0` writes them; read here from the checkpoint as docs/formats.md
describes), so the two runs differ only in data order, noise and rounding,
not in the draw of the initial weights.

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
import zlib


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


def find_images(data_dir, split="train"):
    for name in (f"{split}-images-idx3-ubyte.gz", f"{split}-images-idx3-ubyte"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"no {split}-images-idx3-ubyte(.gz) in {data_dir}; pass --data DIR with MNIST")


def read_archive(path):
    """A tinyad tensor archive (checkpoint), docs/formats.md: {name: (kind, dims, payload)}."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"TDARCHIV":
        raise SystemExit(f"{path}: not a tinyad archive")
    _, count, ulen, _, crc, _ = struct.unpack("<IIQQII", b[8:40])
    body = zlib.decompress(b[40:])
    if len(body) != ulen or zlib.crc32(body) != crc:
        raise SystemExit(f"{path}: corrupt archive body")
    out, o = {}, 0
    for _ in range(count):
        (n,) = struct.unpack_from("<H", body, o)
        name = body[o + 2:o + 2 + n].decode()
        o += 2 + n
        kind, ndim = body[o], body[o + 1]
        dims = struct.unpack_from(f"<{ndim}q", body, o + 2)
        o += 2 + 8 * ndim
        (p,) = struct.unpack_from("<Q", body, o)
        out[name] = (kind, dims, body[o + 8:o + 8 + p])
        o += 8 + p
    return out


# tinyad's parameter names (param.<name>) for the reference models' layers
TINYAD_NAMES = {
    "vae": {"fc1": "enc.0", "fc21": "enc.mu", "fc22": "enc.logvar", "fc3": "dec.0", "fc4": "dec.1"},
    "convvae": {"c1": "enc.conv1", "c2": "enc.conv2", "fc": "enc.fc", "fc_mu": "enc.mu",
                "fc_lv": "enc.logvar", "dec_fc": "dec.fc", "d1": "dec.deconv1", "d2": "dec.deconv2",
                "d3": "dec.deconv3"},
}


def load_tinyad_params(model, kind, path):
    """Copies tinyad's weights and biases (a checkpoint) into the PyTorch model."""
    import torch
    entries = read_archive(path)
    for layer, name in TINYAD_NAMES[kind].items():
        for attr, suffix in (("weight", "w"), ("bias", "b")):
            p = getattr(getattr(model, layer), attr)
            ekind, dims, payload = entries[f"param.{name}.{suffix}"]
            dtype = {1: torch.float32, 2: torch.float64}[ekind]
            t = torch.frombuffer(bytearray(payload), dtype=dtype).reshape(dims)
            if t.shape != p.shape:
                raise SystemExit(f"{path}: param.{name}.{suffix} is {tuple(t.shape)}, "
                                 f"the PyTorch layer {layer}.{attr} {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(t)


def torch_worker(args):
    """The PyTorch reference: train for args.epochs, print epoch times as JSON."""
    import torch
    import torch.nn.functional as F
    from torch import nn, optim

    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    raw, n, dim = load_images(find_images(args.data))
    if args.limit:  # the first images only, as tinyad's --limit
        n = min(n, args.limit)
        raw = raw[:n * dim]
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

    class ConvVAE(nn.Module):
        """models/convvae.h: the Keras VAE example's networks, Bernoulli logits."""
        def __init__(self, latent, ch1=32, ch2=64, hidden=16):
            super().__init__()
            self.ch2 = ch2
            self.c1, self.c2 = nn.Conv2d(1, ch1, 3, 2, 1), nn.Conv2d(ch1, ch2, 3, 2, 1)
            self.fc, self.fc_mu = nn.Linear(ch2 * 49, hidden), nn.Linear(hidden, latent)
            self.fc_lv, self.dec_fc = nn.Linear(hidden, latent), nn.Linear(latent, ch2 * 49)
            self.d1 = nn.ConvTranspose2d(ch2, ch2, 3, 2, 1, output_padding=1)
            self.d2 = nn.ConvTranspose2d(ch2, ch1, 3, 2, 1, output_padding=1)
            self.d3 = nn.ConvTranspose2d(ch1, 1, 3, 1, 1)

        def forward(self, x):
            h = F.relu(self.c2(F.relu(self.c1(x.view(-1, 1, 28, 28)))))
            h = F.relu(self.fc(h.flatten(1)))
            mu, logvar = self.fc_mu(h), self.fc_lv(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            h = F.relu(self.dec_fc(z)).view(-1, self.ch2, 7, 7)
            h = F.relu(self.d2(F.relu(self.d1(h))))
            return self.d3(h).flatten(1), mu, logvar

    def loss_of(model, data):
        out, mu, logvar = model(data)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        if args.model == "convvae":  # logits
            return F.binary_cross_entropy_with_logits(out, data, reduction="sum") + kl
        return F.binary_cross_entropy(out, data, reduction="sum") + kl

    model = ConvVAE(args.latent) if args.model == "convvae" else VAE()
    if args.init_from:
        load_tinyad_params(model, args.model, args.init_from)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    times, cpus, losses = [], [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm, total = torch.randperm(n), 0.0
        for i in range(0, n, args.batch):
            data = x.index_select(0, perm[i:i + args.batch])
            opt.zero_grad()
            loss = loss_of(model, data)
            loss.backward()
            total += loss.item()
            opt.step()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        losses.append(total / n)
    res = {"epoch_s": times, "epoch_cpu": cpus, "train_loss": losses, "torch": torch.__version__}
    if args.quality:  # the test -ELBO per image, one z per image
        raw, nt, _ = load_images(find_images(args.data, "t10k"))
        xt = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(nt, dim).float() / 255
        with torch.no_grad():
            res["test_elbo"] = sum(loss_of(model, xt[i:i + 500]).item() for i in range(0, nt, 500)) / nt
    print(json.dumps(res))


def run_measured(cmd, env, log_path):
    """Runs cmd as a child process, its output to log_path; returns its
    peak resident memory in MiB and the CPU seconds it used, all threads
    (getrusage of that child alone)."""
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
    return ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def tinyad_run(args, threads, out_dir, epochs=None):
    """Epoch seconds (all but the first), peak MiB, process CPU seconds."""
    hidden = "16" if args.model == "convvae" else "400"
    cmd = [args.tinyad, "train", args.model, "--data", args.data,
           "--epochs", str(args.epochs if epochs is None else epochs),
           "--batch", str(args.batch), "--lr", "1e-3", "--hidden", hidden, "--latent", str(args.latent),
           "--activation", "relu", "--binarize", "none", "--seed", str(args.seed),
           "--threads", str(threads), "--out", out_dir]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    rss, cpu = run_measured(cmd, dict(os.environ), out_dir + ".log")
    with open(os.path.join(out_dir, "metrics.csv")) as f:
        secs = [float(row["seconds"]) for row in csv.DictReader(f)]
    return secs[1:], rss, cpu


def tinyad_epoch_cpu(args, threads, out_dir, cpu):
    """CPU seconds of an epoch after the first: the E-epoch run's CPU less
    that of the same run stopped after 1 epoch (which has the same loading,
    warm-up, checkpoints and pictures), over E - 1."""
    cpu1 = tinyad_run(args, threads, out_dir + "-1", epochs=1)[2]
    return (cpu - cpu1) / (args.epochs - 1)


def tinyad_test_elbo(args, out_dir):
    res = subprocess.run([args.tinyad, "eval", out_dir, "--json", "--data", args.data],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout)["test_loss"]


def torch_run(args, threads, tmp, init_from=None):
    out_path = os.path.join(tmp, "torch.json")
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    tt = args.torch_threads or threads
    env["OMP_NUM_THREADS"] = str(tt)
    cmd = [args.python, os.path.abspath(__file__), "--torch-worker", "--data", args.data,
           "--epochs", str(args.epochs), "--batch", str(args.batch), "--seed", str(args.seed),
           "--torch-threads", str(tt), "--json-out", out_path, "--model", args.model,
           "--latent", str(args.latent), "--limit", str(args.limit)] + (["--quality"] if args.quality else []) \
        + (["--init-from", init_from] if init_from else [])
    rss, _ = run_measured(cmd, env, os.path.join(tmp, "torch.log"))
    with open(out_path) as f:
        res = json.load(f)
    return res["epoch_s"][1:], rss, res["torch"], res.get("test_elbo"), res["epoch_cpu"][1:]


def quality(args):
    """Each program once per seed, whole epochs; the test -ELBO per image."""
    t = int(args.threads.split(",")[0])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(x) for x in args.seeds.split(",")]:
            args.seed = seed
            out_dir = os.path.join(tmp, f"q-{seed}")
            init = None
            if args.same_init:  # the seed's initial weights, for PyTorch to start from
                tinyad_run(args, t, out_dir + "-init", epochs=0)
                init = os.path.join(out_dir + "-init", "checkpoint.tdc")
            secs, rss_a, _ = tinyad_run(args, t, out_dir)
            a = tinyad_test_elbo(args, out_dir)
            tsecs, rss_b, _, b, _ = torch_run(args, t, tmp, init)
            rows.append((seed, a, b))
            print(f"seed {seed}: test -ELBO tinyad {a:.2f}, PyTorch {b:.2f}, difference {a - b:+.2f}; "
                  f"epoch (median after the first) {statistics.median(secs):.1f} s vs "
                  f"{statistics.median(tsecs):.1f} s; peak memory {rss_a:.1f} vs {rss_b:.1f} MiB "
                  f"(ratio {rss_a / rss_b:.3f})", flush=True)
    print(f"\n{args.model}, latent {args.latent}, {args.epochs} epochs, {t} threads"
          + (", PyTorch from tinyad's initial weights" if args.same_init else ""))
    print(f"median test -ELBO per image: tinyad {statistics.median(r[1] for r in rows):.2f}, "
          f"PyTorch {statistics.median(r[2] for r in rows):.2f}")


def gemm_bound(args, threads):
    """The step's GEMMs alone at OpenBLAS's speed (bench_step's bound), in
    seconds per step, or None when bench_step was built without OpenBLAS."""
    res = subprocess.run([args.bench_step, "--model", args.model, "--latent", str(args.latent),
                          "--batch", str(args.batch), "--threads", str(threads), "--reps", "5",
                          "--steps", "10"], check=True, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith("bound (the GEMMs at OpenBLAS's speed)"):
            return float(line.split(")")[1].split()[0]) / 1e3
    return None


def spread(xs):
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f}, n={len(xs)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="MNIST directory (IDX files)")
    ap.add_argument("--tinyad", default="build/tools/tinyad/tinyad")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--bench-step", default="build/tools/bench/bench_step",
                    help="bench_step, for the GEMM bound of a step")
    ap.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is not timed)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch intra-op threads (0: the thread count)")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="the Python that has torch (Debian's python3-torch installs it for /usr/bin/python3)")
    ap.add_argument("--model", default="vae", choices=["vae", "convvae"])
    ap.add_argument("--latent", type=int, default=0, help="latent size (default: 20 vae, 16 convvae)")
    ap.add_argument("--batches", type=int, default=0,
                    help="time the first N batches of each epoch only (0: whole epochs)")
    ap.add_argument("--quality", action="store_true",
                    help="test -ELBO after --epochs whole epochs instead of times")
    ap.add_argument("--seeds", default="1", help="--quality: comma-separated seeds")
    ap.add_argument("--same-init", action="store_true",
                    help="--quality: PyTorch starts from tinyad's initial weights for the seed")
    ap.add_argument("--init-from", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", action="store_true",
                    help="also CPU seconds per epoch, which a loaded machine changes less than the "
                         "wall clock (costs a 1-epoch tinyad run per run)")
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.latent = args.latent or (16 if args.model == "convvae" else 20)
    if args.batches and not args.torch_worker:
        args.limit = args.batches * args.batch
    if args.torch_worker:
        if args.json_out:
            sys.stdout = open(args.json_out, "w")
        torch_worker(args)
        return
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first epoch is not timed)")
    find_images(args.data)
    if args.quality:
        args.limit = 0
        quality(args)
        return
    threads = [int(t) for t in args.threads.split(",")]
    results = {}
    torch_version = "?"
    with tempfile.TemporaryDirectory() as tmp:
        for t in threads:
            r = results[t] = {"tinyad": [], "torch": [], "tinyad_rss": [], "torch_rss": [],
                              "tinyad_cpu": [], "torch_cpu": []}
            for k in range(args.runs):
                out_dir = os.path.join(tmp, f"run-{t}-{k}")
                secs, rss, cpu = tinyad_run(args, t, out_dir)
                r["tinyad"] += secs
                r["tinyad_rss"].append(rss)
                if args.cpu:
                    r["tinyad_cpu"].append(tinyad_epoch_cpu(args, t, out_dir, cpu))
                secs, rss, torch_version, _, cpus = torch_run(args, t, tmp)
                r["torch"] += secs
                r["torch_rss"].append(rss)
                r["torch_cpu"] += cpus
                cpu_text = (f"; CPU per epoch tinyad {r['tinyad_cpu'][-1]:.3f} s, torch "
                            f"{statistics.median(cpus):.3f} s" if args.cpu else "")
                print(f"threads {t} run {k + 1}: tinyad {statistics.median(r['tinyad'][-len(secs):]):.3f} s, "
                      f"torch {statistics.median(secs):.3f} s per epoch{cpu_text}", flush=True)
    what = f"first {args.batches} batches of each epoch" if args.batches else "whole epochs"
    print(f"\n{args.model}, latent {args.latent}, batch {args.batch}; {what}")
    print(f"machine: {os.cpu_count()} CPUs; PyTorch {torch_version}, intra-op threads "
          f"{args.torch_threads or 'T'}, BLAS threads T; tinyad {args.tinyad}")
    print(f"{'threads':>7}  {'tinyad epoch':<32} {'PyTorch epoch':<32} {'ratio':>6}  "
          f"{'tinyad MiB':>10} {'torch MiB':>9} {'ratio':>6}")
    for t in threads:
        r = results[t]
        ratio = statistics.median(r["tinyad"]) / statistics.median(r["torch"])
        mem_a, mem_b = max(r["tinyad_rss"]), max(r["torch_rss"])
        print(f"{t:>7}  {spread(r['tinyad']):<32} {spread(r['torch']):<32} {ratio:6.3f}  "
              f"{mem_a:10.1f} {mem_b:9.1f} {mem_a / mem_b:6.3f}")
    steps = args.batches or -(-60000 // args.batch)
    for t in threads:
        b = gemm_bound(args, t) if os.path.exists(args.bench_step) else None
        if b is None:
            print(f"threads {t}: no GEMM bound ({args.bench_step} missing or built without OpenBLAS)")
            continue
        r = results[t]
        epoch = statistics.median(r["tinyad_cpu"] if args.cpu and t == 1 else r["tinyad"])
        print(f"threads {t}: GEMM bound {1e3 * b:.2f} ms per step, {b * steps:.3f} s per epoch of "
              f"{steps} steps; tinyad epoch{' (CPU)' if args.cpu and t == 1 else ''} / bound "
              f"{epoch / (b * steps):.3f}")
    if args.cpu:
        print("CPU seconds per epoch, all threads (tinyad: per run, (E-epoch run - 1-epoch run) / (E-1); "
              "PyTorch: process_time per epoch)")
        for t in threads:
            r = results[t]
            print(f"{t:>7}  {spread(r['tinyad_cpu']):<32} {spread(r['torch_cpu']):<32} "
                  f"{statistics.median(r['tinyad_cpu']) / statistics.median(r['torch_cpu']):6.3f}")
    if 1 in results and 2 in results:
        print(f"tinyad speed-up 1 -> 2 threads: "
              f"{statistics.median(results[1]['tinyad']) / statistics.median(results[2]['tinyad']):.2f}")


if __name__ == "__main__":
    main()
