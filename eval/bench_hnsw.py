#!/usr/bin/python3
"""HNSW benchmark, side by side in one run: bienc, native hnswlib (-O3 -march=native),
Debian's python3-hnswlib and FAISS IndexHNSWFlat, on the same clustered synthetic unit
vectors with the same M and ef_construction.

For each library: build time (2 threads) and memory added by the index (RSS delta), in
one build run that saves the index. Then recall@10 against exact search and queries/s
over an ef sweep with 1 and 2 search threads, in --rounds search rounds: every round
loads each library's saved index in turn (the order rotates) and times the whole sweep,
so a slow spell of a shared machine hits every library alike; q/s is the median over
rounds. Writes a Markdown table and an SVG plot (recall vs queries/s) to --out. Run
through eval/bench_hnsw.sh, which builds the drivers and holds the heavy-job lock.

Every library runs in its own process, so the RSS delta measures only its index."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def make_data(work, n, nq, dim, centres, sigma, seed, k):
    """Unit vectors around `centres` Gaussian centres; ground truth by exact matmul."""
    tag = f"n{n}_q{nq}_d{dim}_c{centres}_s{sigma}_seed{seed}"
    base, qry, gt = (os.path.join(work, f"{tag}.{s}") for s in ("base.f32", "query.f32", "gt.i32"))
    if all(os.path.exists(p) for p in (base, qry, gt)):
        return base, qry, gt
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim), dtype=np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)

    def draw(m):
        out = np.empty((m, dim), dtype=np.float32)
        step = 100_000
        for s in range(0, m, step):
            e = min(m, s + step)
            a = rng.integers(0, centres, e - s)
            v = c[a] + sigma * rng.standard_normal((e - s, dim), dtype=np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            out[s:e] = v
        return out

    x = draw(n)
    q = draw(nq)
    t = time.time()
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.zeros((nq, k), dtype=np.int64)
    for s in range(0, n, 200_000):
        sc = q @ x[s:s + 200_000].T
        part = np.argpartition(-sc, k, axis=1)[:, :k]
        ps = np.take_along_axis(sc, part, axis=1)
        allv = np.concatenate([best_s, ps], axis=1)
        alli = np.concatenate([best_i, part + s], axis=1)
        o = np.argsort(-allv, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(allv, o, axis=1)
        best_i = np.take_along_axis(alli, o, axis=1)
    print(f"ground truth in {time.time() - t:.1f} s", file=sys.stderr)
    x.tofile(base)
    q.tofile(qry)
    best_i.astype(np.int32).tofile(gt)
    return base, qry, gt


def recall(ids, gt):
    k = gt.shape[1]
    return sum(len(set(a[:k]) & set(b)) for a, b in zip(ids, gt)) / gt.size


def worker(a):
    """Runs one python library in this process and prints JSON lines."""
    x = np.fromfile(a.base, dtype=np.float32).reshape(a.n, a.dim)
    q = np.fromfile(a.query, dtype=np.float32).reshape(a.nq, a.dim)
    gt = np.fromfile(a.gt, dtype=np.int32).reshape(a.nq, a.k)
    efs = [int(e) for e in a.efs.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    r0 = rss_mb()
    t0 = time.time()
    loaded = bool(a.index) and os.path.exists(a.index)
    if a.worker == "hnswlib":
        import hnswlib
        idx = hnswlib.Index(space="ip", dim=a.dim)
        if loaded:
            idx.load_index(a.index, max_elements=a.n)
        else:
            idx.init_index(max_elements=a.n, ef_construction=a.efc, M=a.M, random_seed=100)
            idx.add_items(x, np.arange(a.n), num_threads=a.build_threads)
    else:
        import faiss
        faiss.omp_set_num_threads(a.build_threads)
        if loaded:
            idx = faiss.read_index(a.index)
        else:
            idx = faiss.IndexHNSWFlat(a.dim, a.M, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = a.efc
            idx.add(x)
    build = time.time() - t0
    grown = rss_mb() - r0  # before x is released, so this is the index alone
    lib = "hnswlib-python" if a.worker == "hnswlib" else "faiss-hnsw"
    del x
    if a.index and not loaded and a.worker == "hnswlib":
        idx.save_index(a.index)
    elif a.index and not loaded:
        faiss.write_index(idx, a.index)
    print(json.dumps({"lib": lib, "load_s" if loaded else "build_s": round(build, 3),
                      "build_threads": a.build_threads, "rss_mb": round(grown, 1)}), flush=True)
    for t in threads:
        for ef in efs:
            times, cpu = [], []
            for r in range(a.repeats + 1):
                s, c = time.time(), time.thread_time()
                if a.worker == "hnswlib":
                    idx.set_ef(max(ef, a.k))
                    ids, _ = idx.knn_query(q, k=a.k, num_threads=t)
                else:
                    faiss.omp_set_num_threads(t)
                    idx.hnsw.efSearch = max(ef, a.k)
                    _, ids = idx.search(q, a.k)
                if r:
                    times.append(time.time() - s)
                    cpu.append(time.thread_time() - c)
            times.sort()
            cpu.sort()
            print(json.dumps({"lib": lib, "ef": ef, "threads": t, "recall": round(recall(ids, gt), 4),
                              "qps": round(a.nq / times[len(times) // 2], 1),
                              "qps_cpu": round(a.nq / cpu[len(cpu) // 2], 1) if t == 1 else 0.0}), flush=True)


def run_driver(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    for r in rows:
        print(json.dumps(r), file=sys.stderr)
    return rows


def at_recall(rows, lib, threads, target):
    """The first ef (ascending) whose recall reaches target: (ef, recall, qps) or None."""
    pts = sorted((r for r in rows if r["lib"] == lib and r.get("threads") == threads), key=lambda r: r["ef"])
    for r in pts:
        if r["recall"] >= target:
            return r
    return None


def qps_at_recall(rows, lib, threads, target):
    """q/s at recall exactly `target`, interpolated (log q/s linear in recall) between the
    two sweep points around it. When the sweep starts above the target, the first point's
    q/s: a lower bound (the table marks it '>=')."""
    import math
    pts = sorted((r for r in rows if r["lib"] == lib and r.get("threads") == threads), key=lambda r: r["ef"])
    for i, r in enumerate(pts):
        if r["recall"] >= target:
            if i == 0:
                return r["qps"], True
            p = pts[i - 1]
            f = (target - p["recall"]) / (r["recall"] - p["recall"])
            return math.exp(math.log(p["qps"]) + f * (math.log(r["qps"]) - math.log(p["qps"]))), False
    return None, False


def median_rounds(rows):
    """One row per (lib, ef, threads): recall (the same every round: the graph is fixed)
    and the median q/s over the search rounds; build rows are kept as they are."""
    out, groups = [], {}
    for r in rows:
        if "ef" not in r:
            if "build_s" in r:
                out.append(r)
            continue
        groups.setdefault((r["lib"], r["ef"], r["threads"]), []).append(r)
    for (lib, ef, t), g in groups.items():
        q = sorted(r["qps"] for r in g)
        c = sorted(r["qps_cpu"] for r in g)
        out.append({"lib": lib, "ef": ef, "threads": t, "recall": g[0]["recall"], "qps": q[len(q) // 2],
                    "qps_cpu": c[len(c) // 2], "rounds": len(g), "qps_min": q[0], "qps_max": q[-1]})
    return out


COLORS = {"bienc": "#d62728", "hnswlib-native": "#1f77b4", "hnswlib-python": "#2ca02c", "faiss-hnsw": "#9467bd"}


def svg_plot(rows, path, title):
    """Recall@10 (x) vs queries/s (y, log) for 1 and 2 threads: two panels, no matplotlib needed."""
    import math
    W, H, P = 460, 360, 60
    libs = [l for l in COLORS if any(r["lib"] == l and "ef" in r for r in rows)]
    pts = [r for r in rows if "ef" in r]
    if not pts:
        return
    r0 = max(0.9, math.floor(min(r["recall"] for r in pts) * 20) / 20)
    pts = [r for r in pts if r["recall"] >= r0]
    rmin = max(0.9, math.floor(min(r["recall"] for r in pts) * 20) / 20)  # the interesting range
    qmin = min(r["qps"] for r in pts)
    qmax = max(r["qps"] for r in pts)
    lo, hi = math.log10(qmin) - 0.05, math.log10(qmax) + 0.05
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 40}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W}" y="18" text-anchor="middle" font-size="14">{title}</text>']
    for panel, threads in enumerate((1, 2)):
        ox = panel * W

        def X(v):
            return ox + P + (v - rmin) / (1.0 - rmin) * (W - 1.5 * P)

        def Y(v):
            return 30 + (H - P) - (math.log10(v) - lo) / (hi - lo) * (H - P - 10)

        out.append(f'<rect x="{ox + P}" y="30" width="{W - 1.5 * P}" height="{H - P}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{ox + W / 2}" y="{H + 20}" text-anchor="middle">recall@10 ({threads} thread'
                   f'{"s" if threads > 1 else ""})</text>')
        out.append(f'<text x="{ox + 14}" y="{30 + (H - P) / 2}" transform="rotate(-90 {ox + 14} {30 + (H - P) / 2})" '
                   f'text-anchor="middle">queries/s (log)</text>')
        r = rmin
        while r <= 1.0001:
            out.append(f'<line x1="{X(r):.1f}" y1="{30 + H - P}" x2="{X(r):.1f}" y2="{30 + H - P + 5}" stroke="#888"/>')
            out.append(f'<text x="{X(r):.1f}" y="{30 + H - P + 18}" text-anchor="middle">{r:.2f}</text>')
            r += 0.01 if rmin >= 0.9 else 0.05
        e = math.floor(lo)
        while e <= hi:
            for m in (1, 2, 5):
                v = m * 10 ** e
                if lo <= math.log10(v) <= hi:
                    out.append(f'<line x1="{ox + P - 5}" y1="{Y(v):.1f}" x2="{ox + W - P / 2}" y2="{Y(v):.1f}" '
                               f'stroke="#eee"/><text x="{ox + P - 8}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            e += 1
        for li, lib in enumerate(libs):
            ps = sorted((p for p in pts if p["lib"] == lib and p["threads"] == threads), key=lambda p: p["ef"])
            ps = [p for p in ps if p["recall"] >= rmin]
            if not ps:
                continue
            d = " ".join(f'{X(p["recall"]):.1f},{Y(p["qps"]):.1f}' for p in ps)
            out.append(f'<polyline points="{d}" fill="none" stroke="{COLORS[lib]}" stroke-width="2"/>')
            for p in ps:
                out.append(f'<circle cx="{X(p["recall"]):.1f}" cy="{Y(p["qps"]):.1f}" r="3" fill="{COLORS[lib]}">'
                           f'<title>{lib} ef={p["ef"]}: recall {p["recall"]}, {p["qps"]} q/s</title></circle>')
            out.append(f'<text x="{ox + P + 8}" y="{48 + 16 * li}" fill="{COLORS[lib]}">{lib}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def table(rows, n, target):
    rounds = max((r.get("rounds", 1) for r in rows if "ef" in r), default=1)
    lines = [f"### N = {n:,}, 1,000 queries, 384-d, M=16, ef_construction=200\n",
             f"q/s are medians over {rounds} interleaved search rounds (wall clock, batch of all queries);",
             "'CPU' divides by the search thread's own CPU time, which discounts time-slicing by other",
             f"jobs. 'ef @{target}' is the smallest ef of the sweep reaching recall@10 {target}; 'q/s @{target}'",
             "interpolates the q/s curve at exactly that recall.\n",
             f"| library | build s (2 thr) | index MB (RSS delta) | ef @{target} | recall | q/s 1 thr | q/s 1 thr (CPU) "
             f"| q/s 2 thr | q/s @{target} 1 thr (interp.) |",
             "|---|---|---|---|---|---|---|---|---|"]
    libs = [l for l in COLORS if any(r["lib"] == l for r in rows)]
    summary = {}
    for lib in libs:
        b = next((r for r in rows if r["lib"] == lib and "build_s" in r), {})
        one = at_recall(rows, lib, 1, target)
        two = next((r for r in rows if one and r["lib"] == lib and r.get("threads") == 2 and r["ef"] == one["ef"]),
                   None)
        interp, lower_bound = qps_at_recall(rows, lib, 1, target)
        summary[lib] = {"build_s": b.get("build_s"), "rss_mb": b.get("rss_mb"), "at": one,
                        "qps2": two["qps"] if two else None, "interp": interp}
        lines.append(f"| {lib} | {b.get('build_s', '-')} | {b.get('rss_mb', '-')} | {one['ef'] if one else '-'} | "
                     f"{one['recall'] if one else '-'} | {one['qps'] if one else '-'} | "
                     f"{one.get('qps_cpu', '-') if one else '-'} | {two['qps'] if two else '-'} | "
                     f"{('>=' if lower_bound else '') + str(round(interp, 1)) if interp else '-'} |")
    lines.append("")
    be = summary.get("bienc", {})
    for other in ("hnswlib-python", "hnswlib-native", "faiss-hnsw"):
        o = summary.get(other)
        if be.get("at") and o and o.get("at"):
            cpu = (f" (CPU-time based {be['at']['qps_cpu'] / o['at']['qps_cpu']:.2f}x)"
                   if be["at"].get("qps_cpu") and o["at"].get("qps_cpu") else "")
            interp = (f"; interpolated at exactly {target}: {be['interp'] / o['interp']:.2f}x"
                      if be.get("interp") and o.get("interp") else "")
            two = (f"; 2 threads at the same ef: {be['qps2'] / o['qps2']:.2f}x" if be.get("qps2") and o.get("qps2")
                   else "")
            build = (f"; build time {be['build_s'] / o['build_s']:.2f}x; memory "
                     f"{be['rss_mb'] / max(o['rss_mb'], 1e-9):.2f}x" if be.get("build_s") and o.get("build_s") else "")
            lines.append(f"- bienc / {other}: 1-thread q/s at the ef reaching recall {target}: "
                         f"{be['at']['qps'] / o['at']['qps']:.2f}x{cpu}{interp}{two}{build}")
    lines.append("\nFull sweep (ef: recall / q/s, 1 thread | 2 threads):\n")
    for lib in libs:
        pts = sorted((r for r in rows if r["lib"] == lib and "ef" in r), key=lambda r: (r["threads"], r["ef"]))
        for t in (1, 2):
            s = ", ".join(f"{p['ef']}: {p['recall']:.3f}/{p['qps']:.0f}" for p in pts if p["threads"] == t)
            lines.append(f"- {lib}, {t} thr: {s}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--centres", type=int, default=1000)
    ap.add_argument("--sigma", type=float, default=0.04, help="per-dimension noise around a unit centre")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--efs", default="10,12,14,16,18,20,24,28,32,40,48,56,64,72,80,90,100,128,160,200")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=1, help="timed searches per ef within one round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved search rounds (q/s = median over them)")
    ap.add_argument("--index", help=argparse.SUPPRESS)
    ap.add_argument("--libs", default="bienc,hnswlib-native,hnswlib,faiss")
    ap.add_argument("--work", default="/tmp/bienc-bench")
    ap.add_argument("--out", default="eval/results")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--worker", choices=["hnswlib", "faiss"])
    ap.add_argument("--replot", metavar="JSONL", nargs="+",
                    help="only rebuild the table and plot from earlier results (later files override rows of "
                         "the same library)")
    ap.add_argument("--base"), ap.add_argument("--query"), ap.add_argument("--gt")
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    if a.replot:
        rows = []
        for path in a.replot:
            new = [json.loads(l) for l in open(path) if l.strip()]
            libs = {r["lib"] for r in new}
            rows = [r for r in rows if r["lib"] not in libs] + new
        return finish(rows, a)
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    base, qry, gt = make_data(a.work, a.n, a.nq, a.dim, a.centres, a.sigma, a.seed, a.k)
    libs = a.libs.split(",")
    index = {lib: os.path.join(a.work, f"bench_n{a.n}_{lib}.index") for lib in libs}

    def run(lib, efs, threads, repeats):
        if lib in ("bienc", "hnswlib-native"):
            exe = "bench_hnsw_bienc" if lib == "bienc" else "hnswlib_native"
            return run_driver([os.path.join(a.work, exe), base, str(a.n), str(a.dim), qry, str(a.nq), gt, str(a.k),
                               str(a.M), str(a.efc), str(a.build_threads), efs, threads, str(repeats), index[lib]])
        return run_driver([sys.executable, os.path.abspath(__file__), "--worker", lib, "--base", base, "--query",
                           qry, "--gt", gt, "--n", str(a.n), "--nq", str(a.nq), "--dim", str(a.dim), "--k",
                           str(a.k), "--M", str(a.M), "--efc", str(a.efc), "--build-threads", str(a.build_threads),
                           "--efs", efs, "--threads", threads, "--repeats", str(repeats), "--index", index[lib]])

    rows = []
    for lib in libs:  # timed builds, each saving its index for the search rounds
        if os.path.exists(index[lib]):
            os.remove(index[lib])
        rows += [r for r in run(lib, str(a.k), "1", 1) if "build_s" in r]
    for rnd in range(a.rounds):
        for lib in libs[rnd % len(libs):] + libs[:rnd % len(libs)]:
            rows += [r for r in run(lib, a.efs, a.threads, a.repeats) if "ef" in r]
    for lib in libs:
        os.remove(index[lib])
    finish(median_rounds(rows), a)


def finish(rows, a):
    os.makedirs(a.out, exist_ok=True)
    stem = os.path.join(a.out, f"bench_hnsw_n{a.n}")
    with open(stem + ".jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    t = table(rows, a.n, a.target)
    with open(stem + ".md", "w") as f:
        f.write(t)
    svg_plot(rows, stem + ".svg", f"HNSW, N={a.n:,} x {a.dim}, M={a.M}, efc={a.efc}")
    print(t)


if __name__ == "__main__":
    main()
