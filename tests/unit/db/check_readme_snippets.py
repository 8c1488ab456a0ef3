#!/usr/bin/env python3
"""Checks that every region of a source file between "// README begin" and "// README end"
appears in README.md as consecutive lines, leading whitespace aside.

usage: check_readme_snippets.py README.md SOURCE.cpp
"""
import sys


def lines(text):
    return [line.strip() for line in text.splitlines()]


def main():
    readme = lines(open(sys.argv[1], encoding="utf-8").read())
    source = open(sys.argv[2], encoding="utf-8").read().splitlines()
    regions, current = [], None
    for line in source:
        if line.strip() == "// README begin":
            current = []
        elif line.strip() == "// README end":
            regions.append(current)
            current = None
        elif current is not None:
            current.append(line.strip())
    if not regions:
        print(f"{sys.argv[2]}: no README regions")
        return 1
    failed = 0
    for region in regions:
        n = len(region)
        if not any(readme[i:i + n] == region for i in range(len(readme) - n + 1)):
            failed += 1
            print("not in README.md:\n    " + "\n    ".join(region))
    print(f"{len(regions) - failed} of {len(regions)} snippets match README.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
