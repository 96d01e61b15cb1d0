#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""rst-check.py FILE...: parse each reStructuredText file with docutils
(what rst2man and Sphinx build on) and print TAP: one test per file, failed
by any warning or error. Nothing else checks Documentation/admin-guide's
page, which only a kernel docs build (Sphinx) reads. Sphinx's own
directives and roles are accepted unchecked."""
import io
import os
import sys

import docutils.core
from docutils.parsers.rst import Directive, directives, roles

SPHINX_DIRECTIVES = ("toctree", "kernel-doc", "c:function", "c:macro", "c:type",
                     "only", "seealso", "versionadded")
SPHINX_ROLES = ("ref", "doc", "c:func", "c:type", "c:macro", "manpage", "file")


class Accepted(Directive):
    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = None

    def run(self):
        return []


def accepted_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [], []


def check(path):
    err = io.StringIO()
    here = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))
    try:
        with open(os.path.basename(path), encoding="utf-8") as f:
            docutils.core.publish_doctree(
                f.read(), source_path=os.path.basename(path),
                settings_overrides={"warning_stream": err, "report_level": 2,
                                    "halt_level": 5})
    finally:
        os.chdir(here)
    return [line for line in err.getvalue().splitlines() if line.strip()]


def main():
    for name in SPHINX_DIRECTIVES:
        directives.register_directive(name, Accepted)
    for name in SPHINX_ROLES:
        roles.register_local_role(name, accepted_role)
    print("TAP version 13")
    failed = 0
    for n, path in enumerate(sys.argv[1:], 1):
        msgs = check(path)
        if msgs:
            failed += 1
            print(f"not ok {n} - rst: {path}")
            for line in msgs[:10]:
                print(f"#   {line}")
        else:
            print(f"ok {n} - rst: {path}")
    print(f"1..{len(sys.argv) - 1}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
