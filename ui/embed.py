#!/usr/bin/env python3
"""
embed.py - writes the search page's files (ui/index.html, app.js,
style.css, icon.svg) into a C file of byte arrays, so that the trawl
binary carries its page and needs nothing beside it to serve /_ui/
(root/ui.c). A build step (ui/meson.build) runs it; xxd is not needed.

    python3 ui/embed.py OUT.c FILE...

OUT.c defines `ui_files` and `ui_nfiles` (root/ui.h): one entry per FILE,
named by its base name, in the order given. Standard library only.
"""
import os
import sys


def c_bytes(data):
    lines = []
    for i in range(0, len(data), 16):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 16]))
    return "\n".join(lines)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: embed.py OUT.c FILE...")
    out, files = sys.argv[1], sys.argv[2:]
    parts = ["/* Written by ui/embed.py from %s: do not edit. */" %
             ", ".join("ui/" + os.path.basename(f) for f in files),
             '#include "root/ui.h"', ""]
    entries = []
    for i, path in enumerate(files):
        with open(path, "rb") as f:
            data = f.read()
        parts.append("static const unsigned char file%d[%d] = {\n%s\n};\n" %
                     (i, len(data), c_bytes(data)))
        entries.append('\t{"%s", file%d, sizeof file%d},' % (os.path.basename(path), i, i))
    parts.append("const ui_file ui_files[] = {\n%s\n};" % "\n".join(entries))
    parts.append("const size_t ui_nfiles = %d;" % len(files))
    text = "\n".join(parts) + "\n"
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
