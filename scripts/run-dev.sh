#!/usr/bin/env bash
# Starts hvd from the build tree with embedded defaults; filled in by the daemon.
echo "hvd is not built yet" >&2
exit 1
