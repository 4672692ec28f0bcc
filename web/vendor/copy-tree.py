#!/usr/bin/env python3
"""Copies a vendored library's directories (ES modules that import each other by relative path,
so their layout must stay) from web/node_modules into the build tree, then touches a stamp.

usage: copy-tree.py SOURCE_DIR DEST_DIR STAMP SUBDIR...
"""
import pathlib
import shutil
import sys


def main():
    source, dest, stamp, *subdirs = sys.argv[1:]
    source, dest = pathlib.Path(source), pathlib.Path(dest)
    for sub in subdirs:
        target = dest / sub
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source / sub, target)
    pathlib.Path(stamp).touch()


if __name__ == "__main__":
    main()
