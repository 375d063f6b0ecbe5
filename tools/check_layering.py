#!/usr/bin/python3
"""Fails when a layer of src/facefuse includes a header of a layer it does not depend on
(CONVENTIONS.md "Where it is drifting": layering was a convention, not a build rule).

The allowed dependencies are those of src/facefuse/CMakeLists.txt (facefuse_glob_layer), closed
transitively: a layer may include its own headers and those of every layer below it.

Usage: tools/check_layering.py [SRC_DIR]   (default: src/facefuse beside this script's repo)
"""
import os
import re
import sys

# Direct dependencies, as linked in src/facefuse/CMakeLists.txt.
DEPENDS = {
    "core": [],
    "media": ["core"],
    "inference": ["core"],
    "face": ["inference", "media"],
    "processors": ["face"],
    "pipeline": ["processors"],
    "storage": ["core"],
    "jobs": ["pipeline", "storage"],
    "server": ["jobs"],
    "cli": ["pipeline", "server"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"facefuse/([a-z_]+)/')


def allowed(layer):
    seen, todo = {layer}, list(DEPENDS[layer])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(DEPENDS[dep])
    return seen


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "src", "facefuse")
    problems = []
    for layer in sorted(os.listdir(src)):
        root = os.path.join(src, layer)
        if not os.path.isdir(root):
            continue
        if layer not in DEPENDS:
            problems.append(f"{layer}/: a layer this check does not know; add it to DEPENDS with its CMake dependencies")
            continue
        ok = allowed(layer)
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                if not name.endswith((".h", ".cpp", ".in")):
                    continue
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m and m.group(1) not in ok:
                            rel = os.path.relpath(path, src)
                            problems.append(f"{rel}:{number}: layer '{layer}' includes facefuse/{m.group(1)}/ "
                                            f"(a layer above it or beside it; allowed: {', '.join(sorted(ok))})")
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} upward include(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
