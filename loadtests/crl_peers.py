#!/usr/bin/env python3
"""Helpers for loadtests/crl_peers.sh (Revoca vs `openssl ca -gencrl` vs pyca/cryptography).

  crl_peers.py ca-info CA_PEM OUT_DIR
      writes OUT_DIR/issuer.der (the CA's subject Name, DER) and OUT_DIR/ski.hex.
  crl_peers.py pyca ENTRIES_BIN CA_KEY_PEM CA_PEM OUT_DER
      builds and signs the CRL of ENTRIES_BIN with pyca/cryptography (P-256, SHA-256,
      AKI + cRLNumber 1, nextUpdate now + 4 days) and prints a RESULT line: load_s (reading
      the file into ints, datetimes and reason extensions: the "entry generation" part),
      build_s (RevokedCertificateBuilder per entry + the CRL builder), sign_s (sign()),
      write_s (public_bytes(DER) + write) and bs_s = build + sign + write.
  crl_peers.py verify CRL CA_PEM ENTRIES_BIN
      parses the CRL (PEM or DER), checks its signature with the CA's key, its entry count,
      the first and last entries and 2,000 random ones against ENTRIES_BIN (serial,
      revocation time, reason); prints "VERIFY ok bytes=<DER size>" or exits 1.
  crl_peers.py predict RESULTS_TSV N_FROM N_TO TIMEOUT_S MEM_AVAIL_KB BUDGET_LEFT_S
      whether the peers can run at N_TO: linear extrapolation of their N_FROM median wall
      time (x 1.2) and peak RSS must fit TIMEOUT_S, BUDGET_LEFT_S and 80 % of MEM_AVAIL_KB.
  crl_peers.py report RESULTS_TSV
      prints the table and the targets.

Entries file: records of 25 octets (16-octet serial, big-endian u64 revocation time, reason
code or 0xff for none), ascending serials; made by `crl_peers gen` (crl-builder example).

Note: pyca's `add_revoked_certificate` copies the whole list on every call (the builder is
immutable), which is quadratic; the list is therefore passed to the
CertificateRevocationListBuilder constructor, its documented parameter, which is linear.
"""

import datetime
import random
import resource
import statistics
import sys
import time
from collections import defaultdict

RECORD = 25
NO_REASON = 0xFF


def ca_info(ca_pem, out_dir):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    open(f"{out_dir}/issuer.der", "wb").write(cert.subject.public_bytes())
    open(f"{out_dir}/ski.hex", "w").write(ski.hex() + "\n")


def read_records(path):
    data = open(path, "rb").read()
    if len(data) % RECORD:
        raise SystemExit(f"{path}: not a whole number of {RECORD}-octet records")
    return data


def pyca(entries_bin, key_pem, ca_pem, out_der):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(open(key_pem, "rb").read(), password=None)
    ca = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    t0 = time.perf_counter()
    data = read_records(entries_bin)
    reasons = {
        1: x509.CRLReason(x509.ReasonFlags.key_compromise),
        4: x509.CRLReason(x509.ReasonFlags.superseded),
        5: x509.CRLReason(x509.ReasonFlags.cessation_of_operation),
    }
    utc = datetime.timezone.utc
    fromts = datetime.datetime.fromtimestamp
    entries = [
        (
            int.from_bytes(data[i : i + 16], "big"),
            fromts(int.from_bytes(data[i + 16 : i + 24], "big"), utc),
            reasons.get(data[i + 24]),
        )
        for i in range(0, len(data), RECORD)
    ]
    del data
    t1 = time.perf_counter()

    revoked = []
    append = revoked.append
    RCB = x509.RevokedCertificateBuilder
    for serial, when, reason in entries:
        b = RCB().serial_number(serial).revocation_date(when)
        if reason is not None:
            b = b.add_extension(reason, critical=False)
        append(b.build())
    now = datetime.datetime.now(utc).replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
        .issuer_name(ca.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=4))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    t2 = time.perf_counter()
    crl = builder.sign(key, hashes.SHA256())
    t3 = time.perf_counter()
    der = crl.public_bytes(serialization.Encoding.DER)
    with open(out_der, "wb") as f:
        f.write(der)
    t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    print(
        f"RESULT tool=pyca entries={len(entries)} load_s={t1 - t0:.4f} build_s={t2 - t1:.4f} "
        f"sign_s={t3 - t2:.4f} write_s={t4 - t3:.4f} bs_s={t4 - t1:.4f} bytes={len(der)} "
        f"vmhwm_mb={rss_mb:.1f}"
    )


def verify(crl_path, ca_pem, entries_bin):
    from cryptography import x509

    raw = open(crl_path, "rb").read()
    if raw.startswith(b"-----BEGIN"):
        crl = x509.load_pem_x509_crl(raw)
    else:
        crl = x509.load_der_x509_crl(raw)
    from cryptography.hazmat.primitives import serialization

    der_len = len(crl.public_bytes(serialization.Encoding.DER))
    ca = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
    problems = []
    if not crl.is_signature_valid(ca.public_key()):
        problems.append("signature does not verify with the CA key")
    if crl.issuer != ca.subject:
        problems.append("issuer is not the CA's subject")
    data = read_records(entries_bin)
    n = len(data) // RECORD
    if len(crl) != n:
        problems.append(f"{len(crl)} entries, expected {n}")
    else:
        rng = random.Random(1)
        picks = {0, n - 1} | {rng.randrange(n) for _ in range(min(n, 2000))}
        names = {1: "key_compromise", 4: "superseded", 5: "cessation_of_operation"}
        for i in sorted(picks):
            rec = data[i * RECORD : (i + 1) * RECORD]
            got = crl[i]
            serial = int.from_bytes(rec[:16], "big")
            when = int.from_bytes(rec[16:24], "big")
            try:
                reason = got.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
            except x509.ExtensionNotFound:
                reason = None
            want = names.get(rec[24])
            if (
                got.serial_number != serial
                or int(got.revocation_date_utc.timestamp()) != when
                or reason != want
            ):
                problems.append(
                    f"entry {i}: got {got.serial_number:x} {got.revocation_date_utc} {reason}, "
                    f"expected {serial:x} {when} {want}"
                )
                break
    if problems:
        print("VERIFY FAILED " + "; ".join(problems))
        sys.exit(1)
    print(f"VERIFY ok bytes={der_len} entries={len(crl)}")


def load_rows(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def ok_runs(rows, n, tool):
    return [r for r in rows if int(r["n"]) == n and r["tool"] == tool and r["status"] == "ok"]


def predict(results, n_from, n_to, timeout_s, mem_avail_kb, budget_left_s):
    rows = load_rows(results)
    scale = n_to / n_from
    total = 0.0
    for tool in ("openssl-load", "openssl", "pyca"):
        runs = ok_runs(rows, n_from, tool)
        if not runs:
            print(f"no: no successful {tool} run at {n_from}")
            return
        wall = statistics.median(float(r["wall_s"]) for r in runs) * scale * 1.2
        rss = max(int(r["rss_kb"]) for r in runs) * scale
        if tool != "openssl-load" and wall > timeout_s:
            print(f"no: {tool} would take ~{wall:.0f} s > {timeout_s} s")
            return
        if rss > 0.8 * mem_avail_kb:
            print(f"no: {tool} would need ~{rss / 1e6:.1f} GB of {mem_avail_kb / 1e6:.1f} GB")
            return
        total += wall
    if total > budget_left_s:
        print(f"no: the peers would take ~{total:.0f} s, {budget_left_s:.0f} s of budget left")
        return
    print(f"yes: ~{total:.0f} s predicted")


def fmt_range(xs, digits=3):
    if not xs:
        return "-"
    med = statistics.median(xs)
    if len(xs) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def report(results):
    rows = load_rows(results)
    by = defaultdict(list)
    for r in rows:
        by[(int(r["n"]), r["tool"])].append(r)
    sizes = sorted({n for n, _ in by})
    order = ["revoca", "openssl", "openssl-load", "pyca"]
    label = {
        "revoca": "Revoca (crl-builder)",
        "openssl": "openssl ca -gencrl",
        "openssl-load": "  (openssl ca -status: index load only)",
        "pyca": "pyca/cryptography 48",
    }
    print(
        "build+sign = the tool's own timer around building, signing and writing the CRL "
        "(entries already in memory);\nopenssl has no such timer: its figure is the whole "
        "process (parsing index.txt included). wall = whole process (/usr/bin/time -v).\n"
        "Medians, (min–max) over the runs; ratio = Revoca / peer (< 1: Revoca faster).\n"
    )
    head = (
        f"{'N':>10}  {'tool':<40} {'runs':>4}  {'build+sign s':<26} {'wall s':<24} "
        f"{'peak RSS MB':>11}  {'CRL MB':>7}  {'RSS/CRL':>7}  {'ratio b+s':>9}  {'ratio wall':>10}"
    )
    print(head)
    print("-" * len(head))
    med = {}
    for n in sizes:
        for tool in order:
            runs = by.get((n, tool))
            if not runs:
                continue
            good = [r for r in runs if r["status"] == "ok"]
            if not good:
                done = sum(1 for r in runs if not r["status"].startswith("not run"))
                print(f"{n:>10}  {label[tool]:<40} {done:>4}  {runs[0]['status']}")
                continue
            bs = [float(r["bs_s"]) for r in good]
            wall = [float(r["wall_s"]) for r in good]
            rss = statistics.median(int(r["rss_kb"]) for r in good) / 1e3
            crl_mb = statistics.median(int(r["crl_bytes"]) for r in good) / 1e6
            med[(n, tool)] = (statistics.median(bs), statistics.median(wall), rss, crl_mb)
            ratio_bs = ratio_wall = ""
            if tool in ("openssl", "pyca") and (n, "revoca") in med:
                rv = med[(n, "revoca")]
                ratio_bs = f"{rv[0] / statistics.median(bs):.3f}"
                ratio_wall = f"{rv[1] / statistics.median(wall):.3f}"
            bad = "" if len(good) == len(runs) else f" ({len(runs) - len(good)} failed)"
            crl_col = f"{crl_mb:7.1f}" if crl_mb else "      -"
            rss_crl = f"{rss / crl_mb:7.2f}" if crl_mb else "      -"
            print(
                f"{n:>10}  {label[tool]:<40} {len(good):>4}  {fmt_range(bs):<26} "
                f"{fmt_range(wall, 2):<24} {rss:11.1f}  {crl_col}  {rss_crl}  "
                f"{ratio_bs:>9}  {ratio_wall:>10}{bad}"
            )
            loads = [float(r["load_s"]) for r in good]
            if tool == "revoca":
                warm = [float(r["warmup_s"]) for r in good]
                print(
                    f"{'':>10}    loading entries.bin into the vector {fmt_range(loads)} s, "
                    f"one-time warm-up (1-entry CRL) {fmt_range(warm)} s: in wall, not in build+sign"
                )
            elif tool == "pyca":
                tot = [float(r["bs_s"]) + float(r["load_s"]) for r in good]
                print(
                    f"{'':>10}    entry generation (ints, datetimes from entries.bin) "
                    f"{fmt_range(loads)} s; generation + build + sign {fmt_range(tot)} s"
                )
        if (n, "openssl") in med and (n, "openssl-load") in med:
            est = med[(n, "openssl")][1] - med[(n, "openssl-load")][1]
            line = f"{'':>10}  openssl gencrl minus index load ≈ {est:.2f} s"
            if (n, "revoca") in med and est > 0:
                line += f" (Revoca build+sign / that = {med[(n, 'revoca')][0] / est:.3f})"
            print(line)
        for tool in ("openssl", "pyca"):
            if not by.get((n, tool)) and (n, "revoca") in med:
                print(f"{'':>10}  {label[tool]}: not run at this size")
    print("\nTargets (issue 4):")
    for n, limit in ((1_000_000, 0.3), (10_000_000, 3.0)):
        if (n, "revoca") in med:
            bs = med[(n, "revoca")][0]
            lo = min(float(r["bs_s"]) for r in by[(n, "revoca")] if r["status"] == "ok")
            print(
                f"  {n:>10} entries build+sign <= {limit} s: median {bs:.3f} s, min {lo:.3f} s "
                f"-> {'MET' if bs <= limit else 'NOT MET'}"
            )
    for n in sizes:
        if (n, "revoca") in med:
            _, _, rss, crl_mb = med[(n, "revoca")]
            print(
                f"  {n:>10} entries peak RSS <= 1.5 x CRL: {rss:.1f} MB / {crl_mb:.1f} MB = "
                f"{rss / crl_mb:.2f} x -> {'MET' if rss <= 1.5 * crl_mb else 'NOT MET'}"
            )
    for n in sizes:
        if (n, "revoca") not in med:
            continue
        verdicts = []
        for tool in ("openssl", "pyca"):
            if (n, tool) in med:
                faster = med[(n, "revoca")][0] < med[(n, tool)][0] and (
                    med[(n, "revoca")][1] < med[(n, tool)][1]
                )
                verdicts.append(f"{tool}: {'faster' if faster else 'NOT faster'}")
            else:
                status = {r["status"] for r in by.get((n, tool), [])}
                verdicts.append(f"{tool}: {'/'.join(sorted(status)) or 'not run'}")
        print(f"  {n:>10} entries faster than both peers (build+sign and wall): " + ", ".join(verdicts))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "ca-info":
        ca_info(*args)
    elif cmd == "pyca":
        pyca(*args)
    elif cmd == "verify":
        verify(*args)
    elif cmd == "predict":
        predict(args[0], int(args[1]), int(args[2]), float(args[3]), float(args[4]), float(args[5]))
    elif cmd == "report":
        report(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
