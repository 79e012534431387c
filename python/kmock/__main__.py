"""`python -m kmock ARGS...` runs the bundled `kmock` executable (as `kmock ARGS...`)."""

import os
import subprocess
import sys

from ._broker import KmockError, find_binary


def main() -> int:
    try:
        binary = find_binary()
    except KmockError as error:
        print(f"kmock: {error}", file=sys.stderr)
        return 1
    if sys.platform == "win32":
        return subprocess.call([binary, *sys.argv[1:]])
    os.execv(binary, [binary, *sys.argv[1:]])
    return 1  # not reached: execv replaces the process


if __name__ == "__main__":
    sys.exit(main())
