#!/usr/bin/env python3
"""embed.py OUT FILE...: the dashboard's files as C arrays (web_assets[],
producerd.h's struct web_asset), so producerd serves them with no files
beside it.  index.html is served at /, the others at /NAME."""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def main():
    out, files = sys.argv[1], sys.argv[2:]
    lines = ["/* Made by web/embed.py from web/: do not edit. */",
             "#include <stddef.h>", '#include "producerd.h"', ""]
    entries = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit("embed.py: %s: no Content-Type for %s files" % (path, ext))
        with open(path, "rb") as f:
            data = f.read()
        lines.append("static const unsigned char asset%d[] = {" % i)
        for at in range(0, len(data), 16):
            lines.append("\t" + ", ".join("0x%02x" % b for b in data[at:at + 16]) + ",")
        lines.append("};")
        url = "/" if name == "index.html" else "/" + name
        entries.append('\t{ "%s", "%s", asset%d, %d },' % (url, TYPES[ext], i, len(data)))
    lines.append("")
    lines.append("const struct web_asset web_assets[] = {")
    lines.extend(entries)
    lines.append("};")
    lines.append("const size_t nweb_assets = sizeof web_assets / sizeof web_assets[0];")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


main()
