"""Checks that every package pinned in requirements.txt is installed at its pinned version.

Usage: check_env.py REQUIREMENTS_TXT. Prints one line per problem; exits 1 if there is any.
Run by kmock-tests' `python()` helper before any interop script.
"""

import sys
from importlib.metadata import PackageNotFoundError, version


def main() -> int:
    problems = []
    with open(sys.argv[1], encoding="utf-8") as requirements:
        for line in requirements:
            line = line.split("#")[0].strip()
            if not line:
                continue
            name, _, pinned = line.partition("==")
            name, pinned = name.strip(), pinned.strip()
            try:
                found = version(name)
            except PackageNotFoundError:
                problems.append(f"{name} is not installed (want {pinned or 'any version'})")
                continue
            if pinned and found != pinned:
                problems.append(f"{name} {found} is installed, want {pinned}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
