#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill git format-patch's cover letter template with the kept text.

Usage: cover-letter.py cover-letter.txt 0000-cover-letter.patch [perf.txt]

cover-letter.txt: first line is the subject, then a blank line, then the
body. The generated shortlog, diffstat and base-commit stay as git wrote
them, so they always match the series.
"""
import re
import sys

text_path, cover_path = sys.argv[1], sys.argv[2]
perf_path = sys.argv[3] if len(sys.argv) > 3 else None
subject, _, body = open(text_path).read().partition("\n\n")
# The performance and reliability sections come from the benchmark run
# (bench/results/cover-performance.txt), never typed by hand.
try:
    perf = open(perf_path).read().strip() if perf_path else None
except FileNotFoundError:
    perf = None
if perf:
    # The kernels a run used are paths of the machine it ran on; a reader
    # reproduces with "make bench", which builds its own.
    perf = re.sub(r"(?:\b[A-Z_]+=\S+\s+)+make bench", "make bench", perf)
    # Section underlines in the cover letter are "=".
    perf = "\n".join("=" * len(l) if l and set(l) == {"-"} else l
                      for l in perf.splitlines())
body = body.replace("@@PERFORMANCE@@", perf or
                    "Performance\n===========\n\n"
                    "No benchmark results in this version (make bench).")
cover = open(cover_path).read()
if "*** SUBJECT HERE ***" not in cover or "*** BLURB HERE ***" not in cover:
    sys.exit("cover letter template markers not found in " + cover_path)
cover = cover.replace("*** SUBJECT HERE ***", subject.strip(), 1)
cover = cover.replace("*** BLURB HERE ***", body.rstrip("\n"), 1)
open(cover_path, "w").write(cover)
