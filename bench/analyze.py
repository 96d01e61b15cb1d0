#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Analyze the raw output of bench/run.sh (results/raw/*.out).

Writes results.json (every raw record plus the summaries), results.md (tables:
medians, spread, ratios against the best peer, cost model), the SVG plots and
cover-performance.txt (the cover letter's Performance and Reliability
sections). Every number in them comes from the raw files; nothing is typed in.
Python 3 standard library only.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

PEERS = ["soft-dirty", "uffd-wp", "wp-async+scan"]
VMT = ["vmtrack", "vmtrack-batch", "vmtrack-raw"]
PLACES = ["any", "split", "two"]
MECHS = PEERS + VMT
SCAN = "wp-async+scan"
# the sweeps of results.md, by their records' "bench"
SWEEP_NAMES = {"epoch": "strided (1a)", "epoch-remote": "target elsewhere (1e)",
               "epoch-pause": "paused (1f)", "epoch-seq": "sequential (1d)",
               "epoch-thp": "THP (1d)"}
TARGET_RATIO = 0.25  # the target: vmtrack <= 0.25x PAGEMAP_SCAN at 0.1% of 1 GiB
# The performance goals (README, Performance): vmtrack's epoch against
# WP_ASYNC + PAGEMAP_SCAN (1.5x allowed at 100%) and against uffd-wp's
# re-protect at the sparse points; the total against the best peer; the
# epoch flat in the mapped size; consumer CPU at 100k faults/s.
GOAL_EPOCH_SCAN = 1.0
GOAL_EPOCH_SCAN_FULL = 1.5
GOAL_EPOCH_UFFD_SPECS = ("0.01%", "0.1%")
GOAL_TOTAL = 1.05
GOAL_GROWTH = 2.0   # "flat": at most 2x the epoch over the sizes measured (32x at 64-2048 MiB)
GOAL_CPU = 0.10
COLORS = {
    "soft-dirty": "#1f77b4",
    "uffd-wp": "#2ca02c",
    "wp-async+scan": "#ff7f0e",
    "vmtrack": "#d62728",
    "vmtrack-batch": "#8c564b",
    "vmtrack-raw": "#9467bd",
}
LABELS = {
    "soft-dirty": "soft-dirty (clear_refs 4 + pagemap)",
    "uffd-wp": "uffd-wp sync",
    "wp-async+scan": "WP_ASYNC + PAGEMAP_SCAN",
    "vmtrack": "vmtrack (libvmtrack)",
    "vmtrack-batch": "vmtrack (libvmtrack, batches)",
    "vmtrack-raw": "vmtrack (lean libtracefs consumer)",
}


# ---------------------------------------------------------------- loading

def load(rawdir):
    recs = []
    for path in sorted(glob.glob(os.path.join(rawdir, "*.out"))):
        vm = os.path.basename(path)[:-4]
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("@@BENCH "):
                    continue
                try:
                    d = json.loads(line[8:])
                except ValueError:
                    continue
                d["vm"] = vm
                recs.append(d)
    host = {}
    hp = os.path.join(rawdir, "host.txt")
    if os.path.exists(hp):
        for line in open(hp):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                # the tree measured is the one at the start; a commit made
                # during the run is shown as the end's
                if k in ("date", "commit", "dirty_tree") and k in host:
                    k += "_end"
                host[k] = v
    return recs, host


def stat(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt_ms(ns):
    if ns is None:
        return "-"
    ms = ns / 1e6
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    return "%.3f" % ms


def fmt_us(ns):
    if ns is None:
        return "-"
    us = ns / 1e3
    if us >= 100:
        return "%.0f" % us
    if us >= 10:
        return "%.1f" % us
    return "%.2f" % us


def fmt_num(x, digits=3):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    return ("%." + str(digits) + "g") % x


def fmt_ratio(x):
    if x is None:
        return "-"
    if x >= 10:
        return "%.0fx" % x
    if x >= 1:
        return "%.1fx" % x
    return "%.2fx" % x


def spread_ms(s):
    if not s:
        return "-"
    return "%s [%s–%s]" % (fmt_ms(s["median"]), fmt_ms(s["min"]), fmt_ms(s["max"]))


def spread_us(s):
    if not s:
        return "-"
    return "%s [%s–%s]" % (fmt_us(s["median"]), fmt_us(s["min"]), fmt_us(s["max"]))


def spec_key(spec):
    s = spec.rstrip("%")
    try:
        return (spec.endswith("%"), float(s))
    except ValueError:
        return (True, 0.0)


# ---------------------------------------------------------------- summaries

def plural(v, word):
    """'1 event', '2 events', '1.5 events'."""
    return "%s %s%s" % (fmt_num(v), word, "" if v == 1 else "s")


# the sweeps with other workloads than the strided one, and their names
WORKLOADS = [("epoch-seq", "sequential"), ("epoch-thp", "sequential on THP")]
# the strided sweep with the tracked region in another process (vmbench epoch --remote)
REMOTE = "epoch-remote"
# the sparse points with the tracker idle between writes and epoch (--pause-ms)
PAUSE = "epoch-pause"


def summarize_epochs(recs, tag="epoch"):
    """(mech, size_mib, dirty_spec) -> summary of the measured epochs of sweep @tag."""
    groups = {}
    for r in recs:
        if r.get("kind") != "epoch" or r.get("warmup") or r.get("bench", "epoch") != tag:
            continue
        groups.setdefault((r["mech"], r["size_mib"], r["dirty_spec"]), []).append(r)
    out = {}
    for key, rows in groups.items():
        med = lambda f: statistics.median(x.get(f, 0) for x in rows)
        dirty = rows[0]["dirty"]
        # the vmtrack consumers' other calls, timed by runs that record them
        timed = all("other_sys_ns" in x for x in rows)
        out[key] = {
            "mech": key[0], "size_mib": key[1], "dirty_spec": key[2],
            "pages": rows[0]["pages"], "dirty": dirty,
            "epoch_ns": stat([x["epoch_ns"] for x in rows]),
            "epoch_cpu_ns": stat([x["epoch_cpu_ns"] for x in rows]),
            "total_ns": stat([x["epoch_ns"] + x["write_ns"] for x in rows]),
            "rearm_ns": med("rearm_ns"),
            "other_sys_ns": med("other_sys_ns") if timed else None,
            "user_ns": (statistics.median(x["epoch_ns"] - x["rearm_ns"] - x["other_sys_ns"]
                                          for x in rows) if timed else None),
            "syscalls": med("syscalls"), "bytes": med("bytes"), "spliced": med("spliced"),
            "records": med("records"), "ranges": med("ranges"),
            "records_per_dirty": med("records") / dirty if dirty else None,
            "write_records_per_dirty": med("write_records") / dirty if dirty else None,
            "write_syscalls": med("write_syscalls"), "write_bytes": med("write_bytes"),
            "write_ns_per_page": statistics.median(x["write_ns"] / x["dirty"] for x in rows),
            "monitor_cpu_ns": med("monitor_cpu_ns"),
            "user_kb": max(x.get("user_kb", -1) for x in rows),
            "missed": sum(x["missed"] for x in rows),
            "extra": sum(max(0, x["reported"] - x["dirty"]) for x in rows),
            "lost": sum(x["lost"] for x in rows),
            "all_dirty": sum(x["all_dirty"] for x in rows),
            "epochs": len(rows),
        }
    return out


def best_peer(ep, size, spec, exclude=(), field="epoch_ns"):
    best = None
    for m in PEERS:
        if m in exclude:
            continue
        s = ep.get((m, size, spec))
        if s and s[field] and (best is None or s[field]["median"] < best[1]):
            best = (m, s[field]["median"])
    return best


def present_mechs(ep, rows):
    """The mechanisms measured at any (size, spec) of @rows."""
    return [m for m in MECHS if any((m, sz, sp) in ep for sz, sp in rows)]


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def ranges_overlap(a, b):
    """Do two spreads (dicts with min and max) overlap?"""
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def vs_best(ep, size, spec, field="epoch_ns"):
    """vmtrack / best peer, marked where their [min-max] ranges overlap."""
    best = best_peer(ep, size, spec, field=field)
    v = ep.get(("vmtrack", size, spec))
    if not best or not v or not v.get(field):
        return "-"
    a, b = v[field], ep[(best[0], size, spec)][field]
    text = fmt_ratio(ratio(a["median"], b["median"]))
    if ranges_overlap(a, b):
        text += " (ranges overlap)"
    return text


def med_of(ep, mech, size, spec, field="epoch_ns"):
    s = ep.get((mech, size, spec))
    if not s or not s.get(field):
        return None
    return s[field]["median"]


def summarize_wcost(recs):
    groups = {}
    for r in recs:
        if r.get("kind") != "wcost" or r.get("warmup"):
            continue
        # pooled over the runs of one kernel (run.sh alternates them)
        groups.setdefault((r.get("kernel", r["vm"]), r["mech"], r["test"]), []).append(r)
    out = {}
    for key, rows in groups.items():
        out[key] = {
            "kernel": key[0], "mech": key[1], "test": key[2],
            "runs": len({x["vm"] for x in rows}),
            "ns_per_write": stat([x["ns_per_write"] for x in rows]),
            "records_per_write": statistics.median(x["records"] / x["pages"] for x in rows),
            "pages": rows[0]["pages"],
        }
    return out


def summarize_loss(recs):
    rows = [r for r in recs if r.get("kind") == "loss"]
    bybuf = {}
    for r in rows:
        # auto-sized buffers follow each point's watched size: one row for all
        bybuf.setdefault((r.get("placement", "any"), r["auto"],
                          0 if r["auto"] else r["buffer_kb"]), []).append(r)
    out = []
    for (place, auto, kb), pts in sorted(bybuf.items(),
                                         key=lambda x: (PLACES.index(x[0][0])
                                                        if x[0][0] in PLACES else 9,
                                                        x[0][1], x[0][2])):
        pts.sort(key=lambda r: r["rate"])
        clean = [p["rate"] for p in pts if p["lost"] == 0]
        lossy = [p["rate"] for p in pts if p["lost"] > 0]
        kbs = sorted({p["buffer_kb"] for p in pts})
        for p in pts:
            p.setdefault("consumer_cpu_share", None)
        out.append({
            "placement": place,
            "auto": bool(auto), "buffer_kb": kb, "buffer_kb_range": [kbs[0], kbs[-1]],
            "consumer": ", ".join(sorted({p.get("consumer", "vmtrack") for p in pts})),
            "points": [{k: p[k] for k in ("rate_target", "rate", "written", "events", "lost",
                                          "buffer_kb",
                                          "epochs", "flagged_epochs", "reported",
                                          "cpu_ns_per_event", "consumer_cpu_share",
                                          "pages")} for p in pts],
            "max_rate_no_loss": max(clean) if clean else None,
            "min_rate_with_loss": min(lossy) if lossy else None,
            "lost_total": sum(p["lost"] for p in pts),
            "detected_all": all(p["flagged_epochs"] > 0 for p in pts if p["lost"] > 0),
            "false_alarms": sum(1 for p in pts if p["lost"] == 0 and p["flagged_epochs"] > 0),
            "recovered_all": all(p["reported"] >= p["written"] for p in pts),
        })
    return out


def buf_label(b):
    if b["auto"]:
        lo, hi = b["buffer_kb_range"]
        return "auto (%d KiB)" % lo if lo == hi else "auto (%d–%d KiB)" % (lo, hi)
    return "%d KiB" % b["buffer_kb"]


def summarize_setup(recs):
    out = {}
    for r in recs:
        if r.get("kind") == "setup" and r.get("vm") == "test" and \
           r.get("bench", "epoch") == "epoch":
            out[(r["mech"], r["size_mib"])] = r
    return out


# ---------------------------------------------------------------- SVG

def svg_plot(path, title, xlabel, ylabel, series, xlog=True, ylog=True, xfmt=None,
             note=None):
    W, H = 840, 470
    L, R, T, B = 80, 310, 40, 60
    pw, ph = W - L - R, H - T - B
    pts = [(x, y, lo, hi) for _, data in series for (x, y, lo, hi) in data if y and y > 0]
    if not pts:
        return False
    xs = [p[0] for p in pts]
    ys = [v for p in pts for v in (p[1], p[2], p[3]) if v and v > 0]
    tx = (lambda v: math.log10(v)) if xlog else (lambda v: v)
    ty = (lambda v: math.log10(v)) if ylog else (lambda v: v)
    x0, x1 = tx(min(xs)), tx(max(xs))
    y0, y1 = ty(min(ys)), ty(max(ys))
    if xlog:
        x0, x1 = math.floor(x0 * 2) / 2, math.ceil(x1 * 2) / 2
    if ylog:
        y0, y1 = math.floor(y0), math.ceil(y1)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    X = lambda v: L + (tx(v) - x0) / (x1 - x0) * pw
    Y = lambda v: T + ph - (ty(v) - y0) / (y1 - y0) * ph
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (L, esc(title))]
    # grid and ticks
    if ylog:
        for e in range(int(y0), int(y1) + 1):
            yy = T + ph - (e - y0) / (y1 - y0) * ph
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, yy, L + pw, yy))
            o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, yy + 4, tick(10 ** e)))
    xticks = sorted(set(xs))
    for xv in xticks:
        xx = X(xv)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (xx, T, xx, T + ph))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
            xx, T + ph + 16, esc(xfmt(xv) if xfmt else tick(xv))))
    o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (L, T, pw, ph))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (L + pw / 2, H - 18, esc(xlabel)))
    o.append('<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>' % (
        T + ph / 2, T + ph / 2, esc(ylabel)))
    # series
    ly = T + 10
    for name, data in series:
        data = [d for d in data if d[1] and d[1] > 0]
        if not data:
            continue
        c = COLORS.get(name, "#000")
        path_d = " ".join("%s%.1f,%.1f" % ("M" if i == 0 else "L", X(x), Y(y))
                          for i, (x, y, _, _) in enumerate(data))
        o.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (path_d, c))
        for x, y, lo, hi in data:
            if lo and hi and lo > 0:
                o.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>' % (
                    X(x), Y(lo), X(x), Y(hi), c))
            o.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (X(x), Y(y), c))
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (
            L + pw + 12, ly, L + pw + 34, ly, c))
        o.append('<text x="%d" y="%d">%s</text>' % (L + pw + 40, ly + 4, esc(LABELS.get(name, name))))
        ly += 20
    if note:
        for i, line in enumerate(note.split("\n")):
            o.append('<text x="%d" y="%d" font-size="10" fill="#555">%s</text>' % (
                L + pw + 12, ly + 14 + 13 * i, esc(line)))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return True


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tick(v):
    if v >= 1:
        return "%g" % v
    return ("%.4f" % v).rstrip("0")


# ---------------------------------------------------------------- report

class Report:
    def __init__(self, recs, host, command):
        self.recs, self.host, self.command = recs, host, command
        self.ep = summarize_epochs(recs)
        self.workloads = [(name, summarize_epochs(recs, tag)) for tag, name in WORKLOADS]
        self.workloads = [(name, ep) for name, ep in self.workloads if ep]
        # the strided sweep again, the region in a target process of its own
        self.remote = summarize_epochs(recs, REMOTE)
        # the sparse points again, each epoch after a pause
        self.pause = summarize_epochs(recs, PAUSE)
        self.pause_ms = max((r.get("pause_ms", 0) for r in recs
                             if r.get("kind") == "epoch" and r.get("bench") == PAUSE),
                            default=0)
        self.wc = summarize_wcost(recs)
        self.loss = summarize_loss(recs)
        self.setup = summarize_setup(recs)
        # the main run's environment wins over the short runs' of the same kernel
        self.env = {}
        for r in sorted((r for r in recs if r.get("kind") == "env"),
                        key=lambda r: r["vm"] == r["label"]):
            self.env[r["label"]] = r
        self.probe = {(r["label"], r["mech"]): r for r in recs if r.get("kind") == "probe"}
        self.unavail = [r for r in recs if r.get("kind") in ("unavailable", "error")]
        self.skipped = [r for r in recs if r.get("kind") == "skipped"]
        self.caveats = sorted({"%s: %s" % (r["mech"], r["what"]) for r in recs
                               if r.get("kind") == "caveat"})
        tp = self.probe.get(("test", "vmtrack"))
        self.vmtrack_ok = bool(tp and tp["available"])
        self.vmtrack_why = tp["why"] if tp else "the test VM did not report"
        specs = sorted({k[2] for k in self.ep if k[2].endswith("%")}, key=spec_key)
        self.frac_specs = specs
        self.frac_size = self._frac_size()
        fixed = sorted({k[2] for k in self.ep if not k[2].endswith("%")}, key=spec_key)
        self.fixed_spec = fixed[0] if fixed else None
        self.sizes = sorted({k[1] for k in self.ep if k[2] == self.fixed_spec})
        self.headline = {}

    def _frac_size(self):
        sizes = {k[1] for k in self.ep if k[2].endswith("%")}
        return max(sizes) if sizes else None

    def epochs_per_point(self):
        n = [s["epochs"] for s in self.ep.values()]
        return (min(n), max(n)) if n else (0, 0)

    # -------- tables

    def table_epoch(self, rows, label_fn, caption, ep=None):
        ep = self.ep if ep is None else ep
        mechs = present_mechs(ep, rows)
        lines = [caption, ""]
        head = "| %s | " % label_fn(None) + " | ".join(LABELS[m] for m in mechs)
        head += " | best peer | vmtrack / best peer | vmtrack / PAGEMAP_SCAN | vmtrack-raw / best peer |"
        lines.append(head)
        lines.append("|" + "---|" * (len(mechs) + 5))
        for sz, sp in rows:
            cells = []
            for m in mechs:
                s = ep.get((m, sz, sp))
                cells.append(spread_ms(s["epoch_ns"]) if s else "-")
            bp = best_peer(ep, sz, sp)
            v = med_of(ep, "vmtrack", sz, sp)
            vr = med_of(ep, "vmtrack-raw", sz, sp)
            sc = med_of(ep, SCAN, sz, sp)
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                label_fn((sz, sp)), " | ".join(cells),
                "%s (%s ms)" % (bp[0], fmt_ms(bp[1])) if bp else "-",
                vs_best(ep, sz, sp),
                fmt_ratio(ratio(v, sc)),
                fmt_ratio(ratio(vr, bp[1] if bp else None))))
        return lines

    def warmup_lines(self, rows):
        """The warm-up epochs of the strided sweep, kept out of the medians."""
        warm = {}
        for r in self.recs:
            if r.get("kind") == "epoch" and r.get("warmup") and \
               r.get("bench", "epoch") == "epoch":
                warm.setdefault((r["mech"], r["size_mib"], r["dirty_spec"]), []).append(r)
        if not warm:
            return []
        mechs = present_mechs(self.ep, rows)
        L = ["Warm-up epochs (in order, milliseconds; not in the medians above): each "
             "mechanism is measured in its steady state. vmtrack changes mode with the "
             "fraction: an epoch that reports 1/32 of the pages dirty turns the next ones "
             "dense, and the epoch that switches sweeps without re-arming, then re-arms "
             "every written range with process_madvise() (DENSE EPOCHS in vmtrack(1)); "
             "with two warm-up epochs that switch is the second of them.", "",
             "| dirty | " + " | ".join(LABELS[m] for m in mechs) + " |",
             "|" + "---|" * (len(mechs) + 1)]
        for sz, sp in rows:
            cells = []
            for m in mechs:
                w = sorted(warm.get((m, sz, sp), []), key=lambda r: r["rep"])
                cells.append(", ".join(fmt_ms(r["epoch_ns"]) for r in w) or "-")
            L.append("| %s | %s |" % (sp, " | ".join(cells)))
        return L + [""]

    def workload_lines(self):
        """The strided sweep beside the sequential and THP-backed ones."""
        if not self.workloads:
            return []
        rows = [("strided", self.ep, sz, sp) for sz, sp in self.frac_rows()]
        specs = set()
        for name, ep in self.workloads:
            specs |= {(k[1], k[2]) for k in ep}
        rows = [r for r in rows if (r[2], r[3]) in specs]
        for name, ep in self.workloads:
            rows += [(name, ep, sz, sp) for sz, sp in sorted(specs, key=lambda x: spec_key(x[1]))]
        mechs = [m for m in MECHS if any((m, sz, sp) in ep for _, ep, sz, sp in rows)]
        L = ["## 1d. Workloads: strided, sequential, THP-backed", "",
             "The same epochs with the dirty pages of each epoch in one run (sequential) "
             "instead of spread evenly, and in a region backed by transparent huge pages "
             "(MADV_HUGEPAGE: a first write maps, and vmtrack reports, 2 MiB at once); "
             "epoch ms, median [min–max]; vmtrack events per epoch and the pages it reported "
             "(a THP is reported whole).", "",
             "| workload | dirty | " + " | ".join(LABELS[m] for m in mechs) +
             " | best peer | vmtrack / best peer | vmtrack events | vmtrack reported | "
             "missed |", "|" + "---|" * (len(mechs) + 7)]
        for name, ep, sz, sp in rows:
            cells = [spread_ms(ep[(m, sz, sp)]["epoch_ns"]) if (m, sz, sp) in ep else "-"
                     for m in mechs]
            bp = best_peer(ep, sz, sp)
            v = ep.get(("vmtrack", sz, sp))
            dirty = next((ep[(m, sz, sp)]["dirty"] for m in mechs if (m, sz, sp) in ep), 0)
            L.append("| %s | %s of %d MiB (%d pages) | %s | %s | %s | %s | %s | %d |" % (
                name, sp, sz, dirty, " | ".join(cells),
                "%s (%s ms)" % (bp[0], fmt_ms(bp[1])) if bp else "-",
                vs_best(ep, sz, sp),
                fmt_num(v["records"]) if v else "-",
                fmt_num(v["dirty"] + v["extra"] / max(v["epochs"], 1)) if v else "-",
                sum(ep[(m, sz, sp)]["missed"] for m in mechs if (m, sz, sp) in ep)))
        return L + [""]

    def remote_lines(self, lab):
        """The strided sweep with the region in a target process of its own."""
        rows = self.remote_rows()
        if not rows:
            return []
        intro = ("The strided sweep again, with the region in a child process that writes "
                 "when told, as a checkpoint/restore tool tracks another process: soft-dirty "
                 "and PAGEMAP_SCAN through /proc/PID, uffd-wp through a userfaultfd the target "
                 "opened (its monitor thread in the tracking process, on the target's CPU), "
                 "vmtrack through a pidfd (process_madvise()). The writes are timed in the "
                 "target. Same VM run, one lockstep of these four.")
        total = self.table_total(rows, lab, "Total (writes + epoch); milliseconds, median "
                                 "[min–max].", self.remote)
        return self.sweep_lines("## 1e. The target in another process", intro, rows,
                                self.remote, lab, total + [""])

    def pause_rows(self):
        """(size, dirty spec) of the epochs after a pause, sparsest first."""
        return sorted({(k[1], k[2]) for k in self.pause}, key=lambda r: spec_key(r[1]))

    def pause_lines(self, lab):
        """The sparse points with each epoch after the tracker slept."""
        rows = self.pause_rows()
        if not rows:
            return []
        intro = ("The strided points again, with the tracker asleep for %d ms between the "
                 "writes and each epoch, as between the epochs of a pre-copy loop: in table "
                 "1a each epoch comes right after its own writes, and uffd-wp's monitor "
                 "un-protects every written page with the ioctl its re-protect then runs on "
                 "the same page tables. Not a goal: the goals keep table 1a. Same VM run, "
                 "the same lockstep." % self.pause_ms)
        vmt = [(sp, self.pause.get(("vmtrack", sz, sp))) for sz, sp in rows]
        rearm = ("vmtrack's re-arm (its `process_madvise()`) in these epochs, median ms: %s." %
                 ", ".join("%s at %s" % (fmt_ms(s["rearm_ns"]), sp)
                           for sp, s in vmt if s and s["rearm_ns"]))
        return self.sweep_lines("## 1f. Epochs after a pause", intro, rows, self.pause, lab,
                                [rearm, ""])

    def sweep_lines(self, title, intro, rows, data, lab, body):
        """A sweep of its own: its epochs, then @body, then the pages it missed."""
        L = [title, "", intro, ""]
        L += self.table_epoch(rows, lab, "Epoch; milliseconds, median [min–max].", data)
        L.append("")
        L += body
        L.append("Written pages missed in this sweep: %d." % sum(
            s["missed"] for s in data.values()))
        return L + [""]

    def pause_text(self):
        """One sentence on the epochs after a pause, for the cover letter."""
        rows = self.pause_rows()
        parts = []
        for sz, sp in rows:
            v, u = med_of(self.pause, "vmtrack", sz, sp), med_of(self.pause, "uffd-wp", sz, sp)
            if v and u:
                parts.append("%s %s" % (sp, fmt_ratio(ratio(v, u))))
        if not parts:
            return None
        return ("Right after its writes, uffd-wp's re-protect runs warm: its monitor has "
                "just un-protected each of the pages with the same ioctl. With the tracker "
                "asleep for %d ms between the writes and each epoch, as in a pre-copy loop, "
                "vmtrack / uffd-wp re-protect at %d MiB: %s (results.md section 1f)." % (
                    self.pause_ms, rows[0][0], ", ".join(parts)))

    def total_ratios(self):
        """(dirty spec, vmtrack / best peer, best peer) of the total cost per epoch."""
        out = []
        for sz, sp in self.frac_rows():
            v = med_of(self.ep, "vmtrack", sz, sp, "total_ns")
            best = best_peer(self.ep, sz, sp, field="total_ns")
            if v and best:
                out.append((sp, v / best[1], best[0]))
        return out

    def table_total(self, rows, label_fn, caption, ep=None):
        """What a user pays per epoch: the tracked writes (their faults) plus the epoch."""
        ep = self.ep if ep is None else ep
        mechs = present_mechs(ep, rows)
        lines = [caption, "",
                 "| %s | " % label_fn(None) + " | ".join(LABELS[m] for m in mechs) +
                 " | best peer | vmtrack / best peer |",
                 "|" + "---|" * (len(mechs) + 3)]
        for sz, sp in rows:
            cells = [spread_ms(ep[(m, sz, sp)]["total_ns"]) if (m, sz, sp) in ep
                     else "-" for m in mechs]
            best = best_peer(ep, sz, sp, field="total_ns")
            lines.append("| %s | %s | %s | %s |" % (
                label_fn((sz, sp)), " | ".join(cells),
                "%s (%s ms)" % (best[0], fmt_ms(best[1])) if best else "-",
                vs_best(ep, sz, sp, "total_ns")))
        return lines

    def table_cost(self, rows, label_fn):
        lines = ["| %s | mechanism | dirty pages | epoch syscalls | epoch KiB read | "
                 "KiB spliced | records | records / dirty page | dirty ranges | "
                 "epoch CPU ms | epoch ms | of it re-arm ms | of it other calls ms | "
                 "of it user space ms | write-phase syscalls | "
                 "write-phase KiB read | monitor CPU ms (writes) |" % label_fn(None),
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        split = lambda v: fmt_ms(v) if v is not None else "-"
        for sz, sp in rows:
            for m in MECHS:
                s = self.ep.get((m, sz, sp))
                if not s:
                    continue
                rpd = s["records_per_dirty"]
                if m == "uffd-wp":
                    rpd = s["write_records_per_dirty"]
                lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
                             "%s | %s | %s | %s |" % (
                    label_fn((sz, sp)), m, s["dirty"], fmt_num(s["syscalls"]),
                    fmt_num(s["bytes"] / 1024), fmt_num(s["spliced"] / 1024),
                    fmt_num(s["records"]), fmt_num(rpd), fmt_num(s["ranges"]),
                    fmt_ms(s["epoch_cpu_ns"]["median"]),
                    fmt_ms(s["epoch_ns"]["median"]),
                    fmt_ms(s["rearm_ns"]) if s["rearm_ns"] else "-",
                    split(s["other_sys_ns"]), split(s["user_ns"]),
                    fmt_num(s["write_syscalls"]),
                    fmt_num(s["write_bytes"] / 1024),
                    fmt_ms(s["monitor_cpu_ns"]) if m == "uffd-wp" else "-"))
        return lines

    def frac_rows(self):
        return [(self.frac_size, sp) for sp in self.frac_specs
                if any((m, self.frac_size, sp) in self.ep for m in MECHS)]

    def size_rows(self):
        return [(sz, self.fixed_spec) for sz in self.sizes]

    def growth(self, mech):
        if len(self.sizes) < 2:
            return None
        a = med_of(self.ep, mech, self.sizes[0], self.fixed_spec)
        b = med_of(self.ep, mech, self.sizes[-1], self.fixed_spec)
        return ratio(b, a)

    # -------- headline

    def compute_headline(self):
        h = self.headline
        h["vmtrack_available"] = self.vmtrack_ok
        h["vmtrack_why"] = self.vmtrack_why
        spec01 = next((sp for sp in self.frac_specs if abs(spec_key(sp)[1] - 0.1) < 1e-9), None)
        h["point_0.1%"] = {"size_mib": self.frac_size, "dirty_spec": spec01}
        if spec01:
            sz = self.frac_size
            sc = med_of(self.ep, SCAN, sz, spec01)
            bp = best_peer(self.ep, sz, spec01)
            for m in VMT:
                v = med_of(self.ep, m, sz, spec01)
                h["%s_over_scan_0.1%%" % m] = ratio(v, sc)
                h["%s_over_best_peer_0.1%%" % m] = ratio(v, bp[1] if bp else None)
            h["best_peer_0.1%"] = bp[0] if bp else None
            h["scan_ms_0.1%"] = sc / 1e6 if sc else None
        h["size_growth"] = {m: self.growth(m) for m in MECHS}
        h["size_span_mib"] = [self.sizes[0], self.sizes[-1]] if self.sizes else None
        # ratios against the best peer at every fraction point
        h["ratios"] = []
        for sz, sp in self.frac_rows() + self.size_rows():
            bp = best_peer(self.ep, sz, sp)
            row = {"size_mib": sz, "dirty_spec": sp, "best_peer": bp[0] if bp else None}
            for m in VMT:
                row[m] = ratio(med_of(self.ep, m, sz, sp), bp[1] if bp else None)
            row["vmtrack_over_scan"] = ratio(med_of(self.ep, "vmtrack", sz, sp),
                                             med_of(self.ep, SCAN, sz, sp))
            h["ratios"].append(row)
        # write cost
        fw = {m: self.wc.get(("test", m, "first-write")) for m in PEERS + ["vmtrack"]}
        peers = [(m, fw[m]["ns_per_write"]["median"]) for m in PEERS if fw.get(m)]
        bestw = min(peers, key=lambda x: x[1]) if peers else None
        h["first_write_best_peer"] = bestw[0] if bestw else None
        h["first_write_vmtrack_over_best_peer"] = ratio(
            fw["vmtrack"]["ns_per_write"]["median"] if fw.get("vmtrack") else None,
            bestw[1] if bestw else None)
        h["unwatched"] = self.unwatched_compare()
        h["loss"] = self.loss
        h["auto_lost"] = self.auto_lost()
        h["missed_pages_total"] = sum(s["missed"] for s in self.ep.values()) + \
            sum(s["missed"] for s in self.remote.values()) + \
            sum(s["missed"] for s in self.pause.values())
        h["goals"] = self.goals()
        return h

    # -------- goals

    @staticmethod
    def goal(what, value, bound, overlap=None, unit="x"):
        """A goal: its measured @value (None: not measured) against @bound, in @unit."""
        verdict = "not measured" if value is None else \
            "met" if value <= bound else "not met"
        return {"goal": what, "bound": bound, "value": value, "verdict": verdict,
                "overlap": overlap, "unit": unit}

    def goal_memory(self, mech, name, ep):
        """
        Growth of @mech's peak RSS from the epoch with the fewest written
        pages to the one with the most (the sweep runs in that order), at most
        one bit per watched page.
        """
        pts = sorted((s for (m, sz, sp), s in ep.items()
                      if m == mech and sz == self.frac_size and s.get("user_kb", -1) >= 0),
                     key=lambda s: s["dirty"])
        if len(pts) < 2:
            return None
        lo, hi = pts[0], pts[-1]
        return self.goal("%s: consumer memory growth from %s to %s written pages per epoch "
                         "(%s, %d MiB), KiB" % (LABELS[mech], fmt_num(lo["dirty"]),
                                                fmt_num(hi["dirty"]), name, self.frac_size),
                         hi["user_kb"] - lo["user_kb"], hi["pages"] / 8 / 1024, unit="KiB")

    def goal_ratio(self, what, sz, sp, ref, field, bound, ep=None):
        """vmtrack / @ref at one point of @ep (default: the main sweep), against @bound."""
        ep = self.ep if ep is None else ep
        v, r = ep.get(("vmtrack", sz, sp)), ep.get((ref, sz, sp))
        if not (v and r and v.get(field) and r.get(field)):
            return self.goal(what, None, bound)
        return self.goal(what, ratio(v[field]["median"], r[field]["median"]), bound,
                         ranges_overlap(v[field], r[field]))

    def frac_goals(self, ep, rows, where):
        """The epoch and total goals at the dirty fractions @rows of @ep."""
        out = []
        for sz, sp in rows:
            full = spec_key(sp)[1] >= 100
            out.append(self.goal_ratio(
                "epoch at %s of %d MiB%s, / WP_ASYNC + PAGEMAP_SCAN" % (sp, sz, where), sz, sp,
                SCAN, "epoch_ns", GOAL_EPOCH_SCAN_FULL if full else GOAL_EPOCH_SCAN, ep))
        for sz, sp in rows:
            if sp in GOAL_EPOCH_UFFD_SPECS:
                out.append(self.goal_ratio(
                    "epoch at %s of %d MiB%s, / uffd-wp re-protect" % (sp, sz, where), sz, sp,
                    "uffd-wp", "epoch_ns", GOAL_EPOCH_SCAN, ep))
        for sz, sp in rows:
            best = best_peer(ep, sz, sp, field="total_ns")
            out.append(self.goal_ratio(
                "total (writes + epoch) at %s of %d MiB%s, / best peer (%s)" % (
                    sp, sz, where, best[0] if best else "-"), sz, sp,
                best[0] if best else None, "total_ns", GOAL_TOTAL, ep))
        return out

    def remote_rows(self):
        return [(sz, sp) for sz, sp in self.frac_rows()
                if any((m, sz, sp) in self.remote for m in MECHS)]

    def skipped_line(self):
        """The points a mechanism skipped, each once, with the sweeps that skipped it."""
        sweeps = {}
        for s in self.skipped:
            key = (s["mech"], s["size_mib"], s["dirty_spec"], s["dirty"], s["why"])
            name = SWEEP_NAMES.get(s["bench"], s["bench"])
            if name not in sweeps.setdefault(key, []):
                sweeps[key].append(name)
        return "Not measured: " + "; ".join(
            "%s at %s MiB, %s (%d pages), in the %s sweep%s: %s" % (
                mech, size, spec, dirty, ", ".join(names), "s" if len(names) > 1 else "", why)
            for (mech, size, spec, dirty, why), names in sweeps.items()) + "."

    def goals(self):
        """Every performance goal with its measured value and verdict."""
        out = self.frac_goals(self.ep, self.frac_rows(), "")
        out += self.frac_goals(self.remote, self.remote_rows(), " (target in another process)")
        gr = self.growth("vmtrack")
        if gr is not None:
            out.append(self.goal("epoch growth from %d to %d MiB at %s dirty pages" % (
                self.sizes[0], self.sizes[-1], self.fixed_spec), gr, GOAL_GROWTH))
        for b in self.loss:
            if not b["auto"]:
                continue
            for p in b["points"]:
                if p["rate_target"] == 100000 and p.get("consumer_cpu_share") is not None:
                    out.append(self.goal("consumer CPU at 100k faults/s (placement %s, "
                                         "auto-sized buffers), share of one CPU" %
                                         b["placement"], p["consumer_cpu_share"], GOAL_CPU,
                                         unit="%"))
        for mech in ("vmtrack", "vmtrack-batch"):
            for name, ep in [("strided", self.ep)] + self.workloads:
                g = self.goal_memory(mech, name, ep)
                if g:
                    out.append(g)
        return out

    def goal_text(self, g):
        if g["value"] is None:
            return "-", "-"
        if g["unit"] == "%":
            return "%.1f%%" % (100 * g["value"]), "%.0f%%" % (100 * g["bound"])
        if g["unit"] == "KiB":
            return "%d" % g["value"], "%d" % g["bound"]
        return fmt_ratio(g["value"]), "%.2fx" % g["bound"]

    def goal_lines(self):
        goals = self.headline["goals"]
        if not goals:
            return []
        L = ["Each goal with this run's value (vmtrack's median over the reference's); "
             "\"overlap\": the two [min–max] ranges overlap, so the verdict is within this "
             "run's noise.", "",
             "| goal | at most | measured | verdict |", "|---|---|---|---|"]
        for g in goals:
            val, bound = self.goal_text(g)
            L.append("| %s | %s | %s | %s%s |" % (
                g["goal"], bound, val, g["verdict"], " (overlap)" if g["overlap"] else ""))
        met = sum(1 for g in goals if g["verdict"] == "met")
        L += ["", "Met: %d of %d. Consumer memory: the benchmark's own copy of the reported "
              "ranges is allocated and touched before the RSS baseline, so the growth is the "
              "consumer's; see section 4 for the curve and what it is made of." % (
                  met, len(goals))]
        return L

    def unwatched_compare(self):
        out = []
        same_kernel = self.host.get("kernel_main") == self.host.get("kernel_base")
        for test in ("plain", "fresh", "zero-wp"):
            a = self.wc.get(("test", "unwatched", test))
            b = self.wc.get(("base", "unwatched", test))
            e = self.wc.get(("test", "unwatched+watch-elsewhere", test))
            row = {"test": test, "same_kernel": same_kernel}
            if a and b:
                sa, sb = a["ns_per_write"], b["ns_per_write"]
                row.update({"test_ns": sa, "base_ns": sb,
                            "ratio": ratio(sa["median"], sb["median"]),
                            "overlap": ranges_overlap(sa, sb)})
            if e and b:
                row["elsewhere_ns"] = e["ns_per_write"]
                row["elsewhere_ratio"] = ratio(e["ns_per_write"]["median"], b["ns_per_write"]["median"])
            out.append(row)
        return out

    def auto_lost(self):
        pts = [p for L in self.loss if L["auto"] for p in L["points"]]
        ep_auto = [s for (m, _, _), s in self.ep.items() if m in VMT]
        return {
            "loss_points": len(pts), "loss_points_lost": sum(p["lost"] for p in pts),
            "loss_max_rate": max((p["rate"] for p in pts), default=None),
            "epoch_points": len(ep_auto), "epoch_lost": sum(s["lost"] for s in ep_auto),
            "epoch_all_dirty": sum(s["all_dirty"] for s in ep_auto),
            "max_events_epoch": max((s["records"] for s in ep_auto), default=None),
        }

    # -------- markdown

    def markdown(self):
        h = self.headline
        e = self.env.get("test", {})
        b = self.env.get("base", {})
        lo, hi = self.epochs_per_point()
        L = ["# vmtrack benchmark results", "",
             "Generated by `bench/analyze.py` from `bench/results/raw/` — do not edit; "
             "re-run `%s`." % self.command, "",
             "## Run", "",
             "| | |", "|---|---|",
             "| command | `%s` |" % self.command,
             "| date (UTC) | %s |" % self.host.get("date", "?"),
             "| tree | %s (%s uncommitted paths)%s |" % (
                 self.host.get("commit", "?"), self.host.get("dirty_tree", "?"),
                 "; at the end %s (%s)" % (self.host["commit_end"],
                                           self.host.get("dirty_tree_end", "?"))
                 if self.host.get("commit_end", self.host.get("commit")) !=
                 self.host.get("commit") else ""),
             "| kernel under test | %s `%s` (%s) |" % (e.get("kernel_release", "?"),
                                                    e.get("kernel_version", "?"),
                                                    self.host.get("kernel_main", "?")),
             "| unpatched kernel | %s `%s` (%s) |" % (b.get("kernel_release", "?"),
                                                   b.get("kernel_version", "?"),
                                                   self.host.get("kernel_base", "?")),
             "| guest | %s vCPUs, %s MiB, accel %s |" % (e.get("cpus", "?"), e.get("mem_mib", "?"),
                                                     self.host.get("accel", "?")),
             "| host | %s CPUs, load average %s (start) / %s (end) |" % (
                 self.host.get("host_cpus", "?"), self.host.get("host_load_start", "?"),
                 self.host.get("host_load_end", "?")),
             "| repetitions | %d–%d measured epochs per point (after warm-up) |" % (lo, hi),
             "| wall time | %s s |" % self.host.get("wall_s", "?"),
             ""]
        L += ["Mechanisms:", ""]
        for (label, m), p in sorted(self.probe.items()):
            if label != "test":
                continue
            L.append("- **%s** — %s: %s" % (m, p["desc"], "available" if p["available"]
                                           else "**not available**: " + p["why"]))
        L.append("")
        if not self.vmtrack_ok:
            L += ["**vmtrack: not available** on the kernel under test (%s). Only the peers "
                  "were measured; every vmtrack cell below is empty." % self.vmtrack_why, ""]
        if self.caveats:
            L += ["Caveats of this kernel: " + "; ".join(self.caveats) + ".", ""]
        L += ["Times are medians with [min–max] over the measured epochs; under TCG on a "
              "shared host they are inflated and noisy, the ratios from this one run are the "
              "headline. uffd-wp (sync) collects its dirty set during the writes (its monitor "
              "thread reads one message per fault); its epoch is the re-protect only — see the "
              "write cost table and the monitor CPU column.", ""]

        # headline
        L += ["## Headline", ""]
        L += self.headline_lines(md=True)
        L.append("")
        gl = self.goal_lines()
        if gl:
            L += ["## Goals", ""] + gl + [""]

        fr = self.frac_rows()
        if fr:
            lab = lambda k: "dirty (of %d MiB)" % self.frac_size if k is None else \
                "%s (%d pages)" % (k[1], self.ep_dirty(k))
            L += ["## 1a. Epoch cost against the dirty fraction", ""]
            L += self.table_epoch(fr, lab, "Epoch = collect the dirty set and re-arm it; "
                                  "milliseconds, median [min–max]. Plot: "
                                  "`epoch-vs-dirty.svg`.")
            L.append("")
            L += self.warmup_lines(fr)
            L += self.workload_lines()
            L += ["## 1c. Total cost of tracking against the dirty fraction", ""]
            L += self.table_total(fr, lab, "What tracking costs the user per epoch: the "
                                  "writes of the epoch's dirty pages (their first-write "
                                  "faults, and for uffd-wp sync the handler round trips) "
                                  "plus the epoch; milliseconds, median [min–max] of the "
                                  "per-epoch sums.")
            L.append("")
            L += self.remote_lines(lab)
            L += self.pause_lines(lab)
        sr = self.size_rows()
        if sr:
            lab = lambda k: "mapped MiB (%s dirty pages)" % self.fixed_spec if k is None else str(k[0])
            L += ["## 1b. Epoch cost against the mapped size", ""]
            L += self.table_epoch(sr, lab, "Fixed dirty count; milliseconds, median [min–max]. "
                                  "Plot: `epoch-vs-size.svg`.")
            L.append("")
            L.append("Growth from %d MiB to %d MiB (%.0fx the size): %s." % (
                self.sizes[0], self.sizes[-1], self.sizes[-1] / self.sizes[0],
                ", ".join("%s %s" % (m, fmt_ratio(h["size_growth"][m]))
                          for m in MECHS if h["size_growth"].get(m))))
            L.append("")
        if self.skipped:
            L.append(self.skipped_line())
            L.append("")

        L += ["## 5. Cost model", "",
              "Per epoch, medians. Syscalls are counted by the program itself (interposed "
              "libc wrappers, libvmtrack and libtracefs included); KiB read = bytes returned "
              "by read()/pread() plus PAGEMAP_SCAN output; spliced = bytes moved by splice() "
              "into a pipe (then read, so also in KiB read); records = pagemap entries "
              "(soft-dirty), uffd messages (uffd-wp, in the write phase), page_region entries "
              "(PAGEMAP_SCAN) or trace events (vmtrack: one write_fault per dirty page; both "
              "consumers disable mm_watch_rearm, the echo of their own re-arms, after setup; "
              "libvmtrack's epochs are dense from 1/32 of the pages dirty on: the write_fault "
              "event is off and one PAGEMAP_SCAN finds the written pages and re-arms them, "
              "see DENSE EPOCHS in vmtrack(1)). "
              "Epoch ms: its wall time, as in tables 1a and 1b, split for the vmtrack "
              "consumers by the interposed wrappers, which time their calls: re-arm = "
              "the epoch's process_madvise(MADV_WATCH) calls (libvmtrack's dense epochs "
              "re-arm inside their PAGEMAP_SCAN instead: '-'); other calls = the rest of "
              "their calls (draining: TRACE_MMAP_IOCTL_GET_READER per CPU buffer, or "
              "splice() and read(); poll(); the lean consumer's stats pread()s; "
              "libvmtrack's PAGEMAP_SCAN in dense epochs); user space = the epoch less "
              "both: decoding, sorting, applying and collecting the events, and building "
              "the re-arm's vector. The peers' calls are not timed: their epochs are "
              "their calls (uffd-wp: one UFFDIO_WRITEPROTECT per range, PAGEMAP_SCAN: one "
              "ioctl), and a clock read around each of uffd-wp's ioctls would slow it.", ""]
        L += self.table_cost(fr + [r for r in sr if r not in fr],
                             lambda k: "MiB / dirty" if k is None else "%d / %s" % (k[0], k[1]))
        L.append("")

        L += ["## 2. Cost of a write", ""]
        L += self.wcost_lines()
        L.append("")
        L += ["## 3. Event loss (vmtrack)", ""]
        L += self.loss_lines()
        L.append("")
        L += ["## 4. Consumer CPU and memory", ""]
        L += self.resource_lines()
        L.append("")
        L += ["## Correctness of every measured epoch", ""]
        L += ["| mechanism | epochs | written pages missed | extra pages reported | "
              "events lost | all-dirty epochs |", "|---|---|---|---|---|---|"]
        for m in MECHS:
            ss = [s for (mm, _, _), s in self.ep.items() if mm == m]
            if not ss:
                continue
            L.append("| %s | %d | %d | %d | %d | %d |" % (
                m, sum(s["epochs"] for s in ss), sum(s["missed"] for s in ss),
                sum(s["extra"] for s in ss), sum(s["lost"] for s in ss),
                sum(s["all_dirty"] for s in ss)))
        L.append("")
        if self.unavail:
            L += ["## Not available / errors", ""]
            for u in self.unavail:
                L.append("- %s: %s" % (u.get("mech", u.get("cmd", "?")),
                                       u.get("why", "status %s" % u.get("status"))))
            L.append("")
        return "\n".join(L) + "\n"

    def why_missing(self, mech):
        if not self.vmtrack_ok:
            return "vmtrack not available: " + self.vmtrack_why
        whys = sorted({u.get("why", "") for u in self.unavail if u.get("mech") == mech})
        return "; ".join(w for w in whys if w) or "no data"

    def ep_dirty(self, k):
        for m in MECHS:
            s = self.ep.get((m, k[0], k[1]))
            if s:
                return s["dirty"]
        return 0

    def headline_lines(self, md):
        h = self.headline
        out = []
        p = h.get("point_0.1%", {})
        if p.get("dirty_spec"):
            for m in VMT:
                r = h.get("%s_over_scan_0.1%%" % m)
                rb = h.get("%s_over_best_peer_0.1%%" % m)
                if r is None:
                    out.append("- %s at %s dirty of %d MiB: not measured (%s)." % (
                        m, p["dirty_spec"], p["size_mib"], self.why_missing(m)))
                    continue
                out.append("- %s / PAGEMAP_SCAN at %s dirty of %d MiB: **%s** (target <= %s: %s); "
                           "/ best peer (%s): %s." % (
                               m, p["dirty_spec"], p["size_mib"], fmt_ratio(r),
                               fmt_ratio(TARGET_RATIO), "met" if r <= TARGET_RATIO else "NOT met",
                               h.get("best_peer_0.1%"), fmt_ratio(rb)))
        g = h.get("size_growth", {})
        if h.get("size_span_mib") and any(g.values()):
            out.append("- Epoch cost growth from %d to %d MiB at %s dirty pages: %s." % (
                h["size_span_mib"][0], h["size_span_mib"][1], self.fixed_spec,
                ", ".join("%s %s" % (m, fmt_ratio(g[m])) for m in MECHS if g.get(m))))
        if h.get("first_write_vmtrack_over_best_peer") is not None:
            out.append("- First write to a tracked page, vmtrack / best peer (%s): %s." % (
                h["first_write_best_peer"], fmt_ratio(h["first_write_vmtrack_over_best_peer"])))
        for u in h.get("unwatched", []):
            if u.get("ratio") is None:
                continue
            out.append("- Unwatched write (%s), kernel under test / unpatched: %s (%s)%s." % (
                u["test"], fmt_ratio(u["ratio"]),
                "ranges overlap: within noise" if u["overlap"] else "ranges do not overlap",
                " — same kernel image, no patched kernel" if u["same_kernel"] else ""))
        a = h.get("auto_lost", {})
        if a.get("loss_points") or a.get("epoch_points"):
            out.append("- Auto-sized buffers: %d events lost in %d loss-benchmark points (up to "
                       "%s faults/s) and %d in %d epoch points (up to %s events per epoch)." % (
                           a["loss_points_lost"], a["loss_points"],
                           fmt_num(a["loss_max_rate"]), a["epoch_lost"], a["epoch_points"],
                           fmt_num(a["max_events_epoch"])))
        out.append("- Written pages missed by any mechanism in any measured epoch: %d." %
                   h.get("missed_pages_total", 0))
        return out

    def wcost_lines(self):
        L = []
        plain = self.wc.get(("test", "unwatched", "plain"))
        rows = [m for m in PEERS + ["vmtrack"] if ("test", m, "first-write") in self.wc]
        peers = [(m, self.wc[("test", m, "first-write")]["ns_per_write"]["median"])
                 for m in PEERS if ("test", m, "first-write") in self.wc]
        best = min(peers, key=lambda x: x[1]) if peers else None
        if rows:
            pages = self.wc[("test", rows[0], "first-write")]["pages"]
            L += ["First write to each page of an armed %d-page region, microseconds per write, "
                  "median [min–max] over the repetitions (re-armed between them)." % pages, "",
                  "| mechanism | µs / write | / plain store | / best peer | kernel records / write |",
                  "|---|---|---|---|---|"]
            for m in rows:
                s = self.wc[("test", m, "first-write")]
                L.append("| %s | %s | %s | %s | %s |" % (
                    m, spread_us(s["ns_per_write"]),
                    fmt_ratio(ratio(s["ns_per_write"]["median"],
                                    plain["ns_per_write"]["median"] if plain else None)),
                    fmt_ratio(ratio(s["ns_per_write"]["median"], best[1] if best else None)),
                    fmt_num(s["records_per_write"])))
            L.append("")
        runs = sorted({(k[0], v["runs"]) for k, v in self.wc.items() if k[1] == "unwatched"})
        L += ["Writes to mappings nobody watches, same binary on both kernels, pooled over "
              "alternating short VM runs (%s); microseconds per write, median [min–max]:" %
              ", ".join("%s: %d runs" % r for r in runs), "",
              "| test | unpatched kernel | kernel under test | ratio | ranges overlap | "
              "kernel under test, watch elsewhere in the mm | ratio |",
              "|---|---|---|---|---|---|---|"]
        for u in self.headline.get("unwatched", []):
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                u["test"], spread_us(u.get("base_ns")), spread_us(u.get("test_ns")),
                fmt_ratio(u.get("ratio")),
                "-" if u.get("overlap") is None else ("yes" if u["overlap"] else "no"),
                spread_us(u.get("elsewhere_ns")), fmt_ratio(u.get("elsewhere_ratio"))))
        if any(u.get("same_kernel") for u in self.headline.get("unwatched", [])):
            L += ["", "The kernel under test is the unpatched image (no patched kernel was "
                  "available): this table only shows the run-to-run noise."]
        L += ["", "plain = store to a present writable page; fresh = first touch of an empty "
              "anonymous page (zero-fill fault); zero-wp = write after a read mapped the zero "
              "page (write-protect fault)."]
        return L

    def loss_lines(self):
        if not self.loss:
            return ["Not measured: %s." % ("vmtrack not available: " + self.vmtrack_why
                                           if not self.vmtrack_ok else "no data")]
        L = ["A producer writes each page of a watched region once (one write_fault event per "
             "page) at a target rate in 5 ms batches; a consumer (%s) pumps the buffers and "
             "runs an epoch every 200 ms. Placement: split = consumer pinned to CPU 0, "
             "producer to CPU 1; two = two producer threads on CPUs 0 and 1, each writing "
             "half the pages at half the rate (both per-CPU buffers fill), consumer "
             "unpinned; any = no pinning. Lost = per_cpu stats (dropped events + overrun); "
             "flagged = epochs that reported the loss and every watched page dirty; consumer "
             "CPU = its CPU time over the point's wall time (100%% = one CPU)." %
             ", ".join(sorted({b["consumer"] for b in self.loss})), "",
             "| placement | per-CPU buffer | target faults/s | achieved faults/s | pages written "
             "| events received | events lost | epochs flagged / total | reported ≥ written | "
             "consumer CPU ns / event | consumer CPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
        for b in self.loss:
            for p in b["points"]:
                share = p.get("consumer_cpu_share")
                L.append("| %s | %s | %s | %s | %d | %d | %d | %d / %d | %s | %s | %s |" % (
                    b["placement"],
                    "auto (%d KiB)" % p["buffer_kb"] if b["auto"] else "%d KiB" % b["buffer_kb"],
                    p["rate_target"] or "unthrottled", fmt_num(p["rate"]), p["written"],
                    p["events"], p["lost"], p["flagged_epochs"], p["epochs"],
                    "yes" if p["reported"] >= p["written"] else "NO",
                    fmt_num(p["cpu_ns_per_event"]),
                    "%.1f%%" % (100 * share) if share is not None else "-"))
        L += ["", "Where loss starts:", "",
              "| placement | per-CPU buffer | highest rate without loss | lowest rate with loss "
              "| events lost | every loss flagged | false alarms | recovery complete |",
              "|---|---|---|---|---|---|---|---|"]
        for b in self.loss:
            L.append("| %s | %s | %s | %s | %d | %s | %d | %s |" % (
                b["placement"], buf_label(b),
                fmt_num(b["max_rate_no_loss"]) if b["max_rate_no_loss"] else "none tested",
                fmt_num(b["min_rate_with_loss"]) if b["min_rate_with_loss"] else "no loss seen",
                b["lost_total"], "yes" if b["detected_all"] else "NO", b["false_alarms"],
                "yes" if b["recovered_all"] else "NO"))
        return L

    def resource_lines(self):
        L = []
        for b in self.loss:
            for p in b["points"]:
                if p["rate_target"] == 100000 and p.get("consumer_cpu_share") is not None:
                    L.append("- Consumer CPU at 100k faults/s (placement %s, %s buffer): "
                             "%.1f%% of one CPU (target: at most 10%%), %s ns per event." % (
                                 b["placement"], buf_label(b), 100 * p["consumer_cpu_share"],
                                 fmt_num(p["cpu_ns_per_event"])))
        cpu = [p["cpu_ns_per_event"] for b in self.loss for p in b["points"] if p["events"] >= 1000]
        if cpu:
            s = stat(cpu)
            L.append("- Consumer CPU per event while streaming (loss benchmark, points with at "
                     "least 1000 events): median %s ns [%s–%s] over %d points." % (
                         fmt_num(s["median"]), fmt_num(s["min"]), fmt_num(s["max"]), s["n"]))
        for m in VMT:
            pts = [(k, s) for k, s in self.ep.items() if k[0] == m and s["records"] >= 1000]
            if pts:
                k, s = max(pts, key=lambda x: x[1]["records"])
                L.append("- %s epoch CPU per event at %s of %d MiB (%s events): %s ns." % (
                    m, k[2], k[1], fmt_num(s["records"]),
                    fmt_num(s["epoch_cpu_ns"]["median"] / s["records"])))
        L += self.memory_curve_lines()
        L += ["", "Memory of the tracking itself (anonymous RSS growth of the benchmark process over "
              "setup and all epochs, plus kernel ring buffers for vmtrack), per watched GiB:", "",
              "| mechanism | mapped MiB | user KiB | kernel buffer KiB | MiB per watched GiB |",
              "|---|---|---|---|---|"]
        for (m, sz), r in sorted(self.setup.items(), key=lambda x: (MECHS.index(x[0][0])
                                                                    if x[0][0] in MECHS else 9,
                                                                    x[0][1])):
            if sz < 1024:
                continue
            kk = r["kernel_kb"] if r["kernel_kb"] >= 0 else 0
            L.append("| %s | %d | %d | %s | %.1f |" % (
                m, sz, r["user_kb"], r["kernel_kb"] if r["kernel_kb"] >= 0
                else "none (state in page tables)", (r["user_kb"] + kk) / 1024 / (sz / 1024)))
        return L

    def memory_curve_lines(self):
        """Consumer memory against the events of an epoch, at the fraction sweep's size."""
        rows = self.frac_rows()
        if not rows or not any(self.ep.get((m, sz, sp), {}).get("user_kb", -1) >= 0
                               for m in MECHS for sz, sp in rows):
            return []
        mechs = present_mechs(self.ep, rows)
        L = ["", "Consumer memory against the events of an epoch (%d MiB mapped): anonymous RSS growth "
             "of the benchmark process since the region was populated, peak over the "
             "epochs so far, KiB; the benchmark's own copy of the reported ranges is "
             "allocated and touched before, so it is not in the growth (events and dirty "
             "ranges per epoch in parentheses for vmtrack):" %
             self.frac_size, "",
             "| dirty | " + " | ".join(mechs) + " |",
             "|---|" + "---|" * len(mechs)]
        for sz, sp in rows:
            cells = []
            for m in mechs:
                s = self.ep.get((m, sz, sp))
                if not s or s.get("user_kb", -1) < 0:
                    cells.append("-")
                elif m in VMT:
                    cells.append("%d (%s, %s)" % (s["user_kb"], fmt_num(s["records"]),
                                                    fmt_num(s["ranges"])))
                else:
                    cells.append("%d" % s["user_kb"])
            L.append("| %s (%d pages) | %s |" % (sp, self.ep_dirty((sz, sp)), " | ".join(cells)))
        L += ["", "libvmtrack keeps one bit per watched page (and one per 64 of them), "
              "allocated when a range is watched, so before the first epoch. What grows "
              "with an epoch is its result, the dirty ranges (struct vmtrack_epoch.dirty): "
              "16 bytes per range, in an array that doubles and is kept for the next epochs. "
              "It grows with the written pages only where each is its own range (strided); "
              "runs of pages and THPs are one range each (section 1d, the goals above). "
              "vmtrack-batch takes the same epochs in batches of 1024 ranges "
              "(vmtrack_session_set_batch()): the pages still to be handed out wait in a "
              "second bitmap (in a dense epoch, in the page tables, for the sweep that "
              "hands them out), so its result stays at 16 KiB whatever the ranges."]
        return L

    # -------- plots

    def plots(self, outdir):
        made = []
        if self.frac_rows():
            series = []
            for m in MECHS:
                data = []
                for sz, sp in self.frac_rows():
                    s = self.ep.get((m, sz, sp))
                    if s:
                        data.append((spec_key(sp)[1], s["epoch_ns"]["median"] / 1e6,
                                     s["epoch_ns"]["min"] / 1e6, s["epoch_ns"]["max"] / 1e6))
                if data:
                    series.append((m, data))
            if svg_plot(os.path.join(outdir, "epoch-vs-dirty.svg"),
                        "Epoch cost vs dirty fraction (%d MiB mapped)" % self.frac_size,
                        "dirty fraction (%)", "collect + re-arm, ms (median, min-max)", series,
                        note=self.plot_note()):
                made.append("epoch-vs-dirty.svg")
        if self.size_rows():
            series = []
            for m in MECHS:
                data = []
                for sz, sp in self.size_rows():
                    s = self.ep.get((m, sz, sp))
                    if s:
                        data.append((sz, s["epoch_ns"]["median"] / 1e6,
                                     s["epoch_ns"]["min"] / 1e6, s["epoch_ns"]["max"] / 1e6))
                if data:
                    series.append((m, data))
            if svg_plot(os.path.join(outdir, "epoch-vs-size.svg"),
                        "Epoch cost vs mapped size (%s dirty pages)" % self.fixed_spec,
                        "mapped size (MiB)", "collect + re-arm, ms (median, min-max)", series,
                        note=self.plot_note()):
                made.append("epoch-vs-size.svg")
        return made

    def plot_note(self):
        n = ["%s, %s" % (self.env.get("test", {}).get("kernel_release", "?"),
                         self.host.get("date", "?")[:10]),
             "TCG guest; `%s`" % self.command]
        if not self.vmtrack_ok:
            n.append("vmtrack not available")
        return "\n".join(n)

    # -------- cover letter

    def cover(self):
        h = self.headline
        e = self.env.get("test", {})
        lo, hi = self.epochs_per_point()
        out = ["Performance", "-----------", ""]
        out.append(wrap(
            "Measured with `%s` (bench/ in this series' tree, commit %s, %s): one VM run "
            "measures vmtrack and the three write trackers Linux 6.12 already has, on the same "
            "workloads, side by side (up to 1 GiB all mechanisms are armed at once and take "
            "turns epoch by epoch): soft-dirty (clear_refs 4 + pagemap bit 55), userfaultfd "
            "write-protect in sync mode, and UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN (get and "
            "write-protect in one call). The guest (kernel %s, %s vCPUs) runs under %s on a "
            "shared %s-CPU host (load average %s at the start), so absolute times are "
            "inflated and noisy; the ratios measured side by side in one run are the figures "
            "that count. Medians of %s epochs per point, [min-max] in bench/results/results.md." % (
                self.command, self.host.get("commit", "?"), self.host.get("date", "?"),
                e.get("kernel_release", "?"), e.get("cpus", "?"),
                self.host.get("accel", "?").upper(), self.host.get("host_cpus", "?"),
                self.host.get("host_load_start", "?"),
                str(lo) if lo == hi else "%d-%d" % (lo, hi))))
        out.append("")
        if self.caveats:
            out.append(wrap("Caveat: " + "; ".join(self.caveats) + "."))
            out.append("")
        if not self.vmtrack_ok:
            out.append(wrap("vmtrack: not available on the kernel this run booted (%s); the "
                            "figures below are the peers' only and the vmtrack columns are "
                            "empty." % self.vmtrack_why))
            out.append("")
        out.append("Epoch cost (collect the dirty set, re-arm it), %d MiB mapped, ms:" %
                   (self.frac_size or 0))
        out.append("")
        out += self.cover_epoch_table(self.frac_rows(), lambda k: k[1])
        out.append("")
        if self.size_rows():
            out.append("Epoch cost against the mapped size, %s dirty pages, ms:" % self.fixed_spec)
            out.append("")
            out += self.cover_epoch_table(self.size_rows(), lambda k: "%d MiB" % k[0])
            out.append("")
        for line in self.headline_lines(md=False):
            out.append(wrap(line.replace("**", ""), indent="  "))
        out.append("")
        tot = self.total_ratios()
        if tot:
            out.append(wrap(
                "Total cost of tracking per epoch (the epoch's first-write faults plus the "
                "epoch), vmtrack / best peer at %d MiB: %s." % (self.frac_size, ", ".join(
                    "%s %s (%s)" % (sp, fmt_ratio(r), m) for sp, r, m in tot))))
            out.append("")
        fw = [(m, self.wc.get(("test", m, "first-write"))) for m in PEERS + ["vmtrack"]]
        fw = [(m, w["ns_per_write"]["median"]) for m, w in fw if w]
        plain = self.wc.get(("test", "unwatched", "plain"))
        if fw:
            out.append(wrap(
                "First write to a tracked page, us per write (median): %s; a store to a "
                "present writable page: %s. uffd-wp sync collects its dirty set during the "
                "writes (one message and one unprotect per fault, the writer blocked), so its "
                "epoch above is the re-protect only; where it is the best peer, that is why." % (
                    ", ".join("%s %s" % (m, fmt_us(v)) for m, v in fw),
                    fmt_us(plain["ns_per_write"]["median"]) if plain else "-")))
            out.append("")
        pause = self.pause_text()
        if pause:
            out.append(wrap(pause))
            out.append("")
        out.append(wrap(
            "Cost model (per epoch, counted by the benchmark itself): soft-dirty reads %s "
            "bytes of pagemap per mapped page and clears the whole mm; PAGEMAP_SCAN walks the "
            "whole range and returns %s bytes per dirty range; uffd-wp sync costs %s syscalls "
            "per fault in its monitor plus one ioctl per range to re-arm; vmtrack reads the "
            "events of the epoch (%s) and re-arms the dirty ranges with process_madvise "
            "(UIO_MAXIOV ranges per call). Full table: results.md section 5." % (
                self.per("soft-dirty", "bytes", "pages"), self.per(SCAN, "bytes", "records"),
                self.per("uffd-wp", "write_syscalls", "dirty"), self.vmtrack_events_text())))
        out.append("")
        split = self.split_text()
        if split:
            out.append(wrap(split))
            out.append("")
        goals = self.headline["goals"]
        if goals:
            out.append("Goals (vmtrack / reference, medians; '~': the [min-max] ranges overlap):")
            out.append("")
            for g in goals:
                val, bound = self.goal_text(g)
                out.append(wrap("%s: %s%s (at most %s): %s" % (
                    g["goal"], val, " ~" if g["overlap"] else "", bound, g["verdict"]),
                    first="  -", indent="    "))
            out.append("")
        out += ["Reliability", "-----------", ""]
        out += self.cover_reliability()
        out.append("")
        out.append("Reproduce: %s   (results in bench/results/)" % self.command)
        return "\n".join(out) + "\n"

    def split_text(self):
        """Where vmtrack's sparsest epoch goes, from the timed calls (section 5)."""
        if not self.frac_specs:
            return None
        sp = self.frac_specs[0]
        v = self.ep.get(("vmtrack", self.frac_size, sp))
        u = self.ep.get(("uffd-wp", self.frac_size, sp))
        if not v or v["other_sys_ns"] is None or not v["rearm_ns"]:
            return None
        text = ("Where vmtrack's epoch goes at %s of %d MiB (%s ms, its calls timed): %s ms "
                "re-arming (process_madvise), %s ms in its other calls (draining the "
                "per-CPU buffers, one poll), %s ms in user space (decoding, applying, "
                "collecting)" % (sp, self.frac_size, fmt_ms(v["epoch_ns"]["median"]),
                                 fmt_ms(v["rearm_ns"]), fmt_ms(v["other_sys_ns"]),
                                 fmt_ms(v["user_ns"])))
        if u:
            text += "; uffd-wp's re-protect: %s ms" % fmt_ms(u["epoch_ns"]["median"])
        return text + "."

    def per(self, mech, num, den):
        v = [s[num] / s[den] for k, s in self.ep.items() if k[0] == mech and s.get(den)]
        return fmt_num(statistics.median(v)) if v else "(not measured)"

    def vmtrack_events_text(self):
        pts = [s for k, s in self.ep.items() if k[0] == "vmtrack" and s["dirty"]]
        if not pts:
            return "not measured in this run"
        r = stat([s["records_per_dirty"] for s in pts])
        return "%s per dirty page, median over the points: its write_fault; the library " \
               "stops recording the marks of its own re-arms after the first epoch" % \
               plural(r["median"], "event")

    def cover_epoch_table(self, rows, label):
        mechs = present_mechs(self.ep, rows)
        head = "%-12s" % "" + "".join("%15s" % m for m in mechs) + "%12s%12s" % ("vmt/best", "vmt/scan")
        out = ["  " + head]
        for sz, sp in rows:
            bp = best_peer(self.ep, sz, sp)
            v = med_of(self.ep, "vmtrack", sz, sp)
            line = "%-12s" % label((sz, sp))
            for m in mechs:
                line += "%15s" % fmt_ms(med_of(self.ep, m, sz, sp))
            line += "%12s%12s" % (fmt_ratio(ratio(v, bp[1] if bp else None)),
                                  fmt_ratio(ratio(v, med_of(self.ep, SCAN, sz, sp))))
            out.append("  " + line.rstrip())
        return out

    def auto_kb_text(self):
        v = [(sz, m, r["kernel_kb"]) for (m, sz), r in self.setup.items()
             if m in VMT and r["kernel_kb"] > 0]
        if not v:
            return ""
        return " (measured: %s)" % ", ".join(
            "%s %d KiB of ring buffer in all for %d MiB watched" % (m, kb, sz)
            for sz, m, kb in sorted(set(v)))

    def cover_reliability(self):
        out = []
        out.append(wrap(
            "Events are written to per-CPU ring buffers of fixed size in a private tracefs "
            "instance, overwrite off: when a CPU's buffer is full, new events are dropped. "
            "That happens only when the faults of one CPU outrun the consumer by more than "
            "that buffer. The consumer detects every loss from per_cpu/cpuN/stats (dropped "
            "events + overrun + commit overrun, read every epoch and after the final drain; "
            "the sub-buffer header's missed flag is never set in this mode), and recovers "
            "by a sweep of the soft-dirty bits of the watched pages (PAGEMAP_SCAN), which "
            "finds the pages written exactly, or where the kernel has none, by reporting "
            "every watched page of that mm dirty for the epoch and re-arming it. Up to 256 "
            "MiB watched, libvmtrack sizes the buffer (vmtrack_buffer_kb_for()) so that one "
            "epoch in which every watched page is written on one CPU fits; beyond, where a "
            "sweep is possible, for one page in 8 more, up to 16.3 MiB per CPU; the "
            "benchmark's lean consumer, which has no sweep, for every watched page%s."
            % self.auto_kb_text()))
        out.append("")
        if not self.loss:
            out.append(wrap("Loss thresholds: not measured in this run (%s)." %
                            self.why_missing("vmtrack")))
            return out
        out.append("Measured (bench loss: one page written per event, consumer on the other CPU):")
        out.append("")
        out.append("  %-22s %20s %18s %8s %9s" % ("buffer per CPU", "no loss up to f/s",
                                                 "loss from f/s", "lost", "flagged"))
        for b in self.loss:
            out.append("  %-22s %20s %18s %8d %9s" % (
                buf_label(b),
                fmt_num(b["max_rate_no_loss"]) if b["max_rate_no_loss"] else "-",
                fmt_num(b["min_rate_with_loss"]) if b["min_rate_with_loss"] else "none seen",
                b["lost_total"], "all" if b["detected_all"] else "NOT ALL"))
        out.append("")
        a = self.headline.get("auto_lost", {})
        flagged_ok = all(b["detected_all"] for b in self.loss)
        rec_ok = all(b["recovered_all"] for b in self.loss)
        out.append(wrap(
            "Every epoch that lost events was flagged: %s; every flagged epoch reported at "
            "least the written pages: %s. Auto-sized buffers lost %d events in %d "
            "streaming points (up to %s faults/s) and %d in %d epoch points (up to %s events "
            "per epoch). Written pages missed, over all measured epochs of all mechanisms: %d." % (
                "yes" if flagged_ok else "NO", "yes" if rec_ok else "NO",
                a.get("loss_points_lost", 0), a.get("loss_points", 0),
                fmt_num(a.get("loss_max_rate")), a.get("epoch_lost", 0),
                a.get("epoch_points", 0), fmt_num(a.get("max_events_epoch")),
                self.headline.get("missed_pages_total", 0))))
        return out


def wrap(text, width=76, first="", indent=""):
    words = text.split()
    lines, cur = [], first
    for w in words:
        if len(cur) + len(w) + (1 if cur.strip() else 0) > width and cur.strip():
            lines.append(cur.rstrip())
            cur = indent
        cur += ("" if not cur.strip() else " ") + w
    if cur.strip():
        lines.append(cur.rstrip())
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", help="reproducing command (default: from raw/host.txt)")
    a = ap.parse_args()
    recs, host = load(a.raw)
    if not recs:
        print("analyze: no @@BENCH records in %s" % a.raw, file=sys.stderr)
        return 1
    rep = Report(recs, host, a.command or host.get("command", "make bench"))
    rep.compute_headline()
    os.makedirs(a.out, exist_ok=True)
    for old in glob.glob(os.path.join(a.out, "*.svg")):
        os.remove(old)
    plots = rep.plots(a.out)
    md = rep.markdown()
    md += "\nPlots: " + ", ".join("`%s`" % p for p in plots) + "\n" if plots else ""
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "cover-performance.txt"), "w") as f:
        f.write(rep.cover())
    summary = {
        "host": host, "command": a.command, "headline": rep.headline,
        "epochs": [dict(v) for v in rep.ep.values()],
        "wcost": [dict(v) for v in rep.wc.values()],
        "loss": rep.loss,
        "setup": list(rep.setup.values()),
        "records": recs,
    }
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
