#!/usr/bin/python3
"""Renders bench/dkim results: bench_dkim JSON (Google Benchmark) + `openssl speed -mr` output.

Usage: report.py RAW_DIR START_EPOCH ROUNDS LAST_JSON [DOC.md]
Reads RAW_DIR/bench.N.json and RAW_DIR/speed.N.txt for N = 1..ROUNDS, keeps each measurement's
best round (the least disturbed one on a shared machine), writes LAST_JSON (every round's
numbers and the best), prints the Markdown and, given DOC.md, puts it in its own section there.
Both sides are CPU-time rates: Google Benchmark's items/s use CPU time, and `openssl speed`
divides by CPU user time unless -elapsed is given.
"""
import json
import os
import platform
import re
import subprocess
import sys
import time

BEGIN, END = "<!-- bench/dkim:begin -->", "<!-- bench/dkim:end -->"
TARGET_SIGN_RATIO = 0.90      # issue 3: >= 90% of OpenSSL's sign rate on 1 KiB messages
TARGET_HASH_BPS = 1e9         # issue 3: body hashing >= 1 GB/s on 100 KiB


def rates(bench):
    out = {}
    for b in bench["benchmarks"]:
        out[b["name"]] = {k: b[k] for k in ("items_per_second", "bytes_per_second") if k in b}
    return out


def openssl_speed(text):
    rsa = ed = None
    for line in text.splitlines():
        f = line.strip().split(":")
        if f[0] == "+F2" and f[2] == "2048":          # +F2:idx:bits:sign/s:verify/s
            rsa = float(f[3])
        if f[0] == "+F6" and f[3] == "Ed25519":       # +F6:idx:bits:name:sign/s:verify/s
            ed = float(f[4])
    if rsa is None or ed is None:
        sys.exit("bench/dkim: could not read `openssl speed -mr` output")
    return {"rsa2048": rsa, "ed25519": ed}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    results_dir, start, rounds, last_json = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    doc = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    benches, speeds = [], []
    for n in range(1, rounds + 1):
        with open(os.path.join(results_dir, f"bench.{n}.json")) as f:
            benches.append(rates(json.load(f)))
        with open(os.path.join(results_dir, f"speed.{n}.txt")) as f:
            speeds.append(openssl_speed(f.read()))

    def best(prefix, key):
        return {name: max(b[name][key] for b in benches)
                for name in benches[0] if name.startswith(prefix)}

    ossl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    r = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)),
        "minutes": (time.time() - start) / 60, "rounds": rounds,
        "cpu": cpu_model(), "cores": os.cpu_count(), "openssl": ossl_version,
        "kernel": platform.release(),
        "openssl_sign_per_s": {alg: max(s[alg] for s in speeds) for alg in speeds[0]},
        "sign_per_s": best("BM_Sign/", "items_per_second"),
        "key_sign_per_s": best("BM_KeySign/", "items_per_second"),
        "body_hash_bytes_per_s": best("BM_BodyHash/", "bytes_per_second"),
        "every_round": {"bench_dkim": benches, "openssl_speed": speeds},
    }
    os.makedirs(os.path.dirname(last_json) or ".", exist_ok=True)
    with open(last_json, "w") as f:
        json.dump(r, f, indent=1)
    md = render(r)
    print(md)
    if doc:
        write_doc(doc, md)


def render(r):
    L = []
    L.append(f"Command: `bench/dkim/run.sh` (Release build; ROUNDS={r['rounds']}). Each round runs "
             "`bench_dkim --benchmark_min_time=2` then `openssl speed -mr -seconds 3 rsa2048 "
             "ed25519`; every figure is that program's best round.  ")
    L.append(f"Run {r['date']}, {r['minutes']:.1f} min, {r['cores']} x {r['cpu']}; "
             f"kernel {r['kernel']}; {r['openssl']}.  ")
    L.append("Tern = the whole signing pipeline per message, one thread, key parsed once and cached: "
             "relaxed body canonicalization + SHA-256 streamed over the body, header selection and "
             "canonicalization, the signature, base64 and folding of the DKIM-Signature field. "
             "A message is 8 typical header fields and a plain-text body of 72-column lines. "
             "OpenSSL = `openssl speed`, the bare signature primitive on a small input with a "
             "context set up once. Both are rates per CPU second.")
    L.append("")
    L.append("| algorithm | message | Tern signs/s | OpenSSL sign/s | Tern/OpenSSL |")
    L.append("|---|---:|---:|---:|---:|")
    names = {"rsa2048": "RSA-2048 (rsa-sha256)", "ed25519": "Ed25519 (ed25519-sha256)"}
    for alg in ("rsa2048", "ed25519"):
        for size, label in ((1024, "1 KiB"), (102400, "100 KiB")):
            tern = r["sign_per_s"].get(f"BM_Sign/{alg}/{size}")
            ossl = r["openssl_sign_per_s"][alg]
            if tern is None:
                continue
            L.append(f"| {names[alg]} | {label} | {tern:,.0f} | {ossl:,.0f} | {tern / ossl:.2f} |")
    L.append("")
    L.append("| measurement | value | target (issue 3) | met |")
    L.append("|---|---:|---|---|")
    for alg in ("rsa2048", "ed25519"):
        tern = r["sign_per_s"].get(f"BM_Sign/{alg}/1024")
        ratio = tern / r["openssl_sign_per_s"][alg]
        L.append(f"| {names[alg]} sign rate, 1 KiB, vs OpenSSL | {ratio:.0%} | >= 90% | "
                 f"{'yes' if ratio >= TARGET_SIGN_RATIO else 'NO'} |")
    for size, label in ((102400, "100 KiB"), (1024, "1 KiB")):
        bps = r["body_hash_bytes_per_s"].get(f"BM_BodyHash/{size}")
        if bps is None:
            continue
        target = ">= 1 GB/s" if size == 102400 else "(none)"
        met = ("yes" if bps >= TARGET_HASH_BPS else "NO") if size == 102400 else ""
        L.append(f"| body hashing (relaxed + SHA-256), {label} body | {bps / 1e9:.2f} GB/s | "
                 f"{target} | {met} |")
    for alg in ("rsa2048", "ed25519"):
        k = r["key_sign_per_s"].get(f"BM_KeySign/{alg}")
        if k is not None:
            L.append(f"| PrivateKey::sign alone, {names[alg]} | {k:,.0f}/s "
                     f"({k / r['openssl_sign_per_s'][alg]:.0%} of OpenSSL) | | |")
    L.append("")
    L.append("Read with care: the machine is small and shared (other builds may run at the same "
             "time), which is why rounds alternate the two programs and the best round counts. "
             "At 100 KiB the body hash dominates the Ed25519 figure and the RSA signature the "
             "RSA one. Raw numbers: bench/dkim/results/last.json.")
    return "\n".join(L) + "\n"


def write_doc(path, md):
    section = f"{BEGIN}\n## DKIM signing (bench/dkim)\n\n{md}{END}\n"
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END) + 1:]
    else:
        new = (old or "# Performance\n\n") + ("\n" if old and not old.endswith("\n\n") else "") \
            + section
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
