#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill git format-patch's cover letter template with the kept text.

cover-letter.txt: first line is the subject, then a blank line, then the
body. The generated shortlog, diffstat and base-commit stay as git wrote
them, so they always match the series.
"""
import sys

text_path, cover_path = sys.argv[1], sys.argv[2]
subject, _, body = open(text_path).read().partition("\n\n")
cover = open(cover_path).read()
if "*** SUBJECT HERE ***" not in cover or "*** BLURB HERE ***" not in cover:
    sys.exit("cover letter template markers not found in " + cover_path)
cover = cover.replace("*** SUBJECT HERE ***", subject.strip(), 1)
cover = cover.replace("*** BLURB HERE ***", body.rstrip("\n"), 1)
open(cover_path, "w").write(cover)
