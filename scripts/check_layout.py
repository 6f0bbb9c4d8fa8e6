#!/usr/bin/env python3
"""The dependency stack of the source folders (README "Layout"), checked over #include lines.

Each folder may include only the folders listed for it; nothing points up the stack. A bad edge
is printed as FILE:LINE: FOLDER includes "HEADER" (FOLDER may include: ...), and the exit code
is 1. Run by .ci/run; `scripts/check_layout.py --table` prints the allowed edges as Markdown.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Bottom of the stack first. A folder may include itself and the folders listed here.
ALLOWED = {
    "common": [],
    "kernels": ["common"],
    "model": ["common", "kernels"],
    "rollout": ["common", "kernels", "model"],
    "rewards": ["common"],
    "learner": ["common", "kernels", "model"],
    "recipes": ["common"],
    "actor/transport": ["common"],
    "actor/launch": ["common"],
    "actor/weights": ["common", "actor/transport"],
    "actor": ["common", "kernels", "model", "rollout", "rewards", "learner", "recipes",
              "actor/transport", "actor/launch", "actor/weights"],
    "cli": ["common", "kernels", "model", "rollout", "rewards", "learner", "recipes",
            "actor/transport", "actor/launch", "actor/weights", "actor"],
}
# Folders outside the stack: they may include anything.
FREE = ["tests", "bench", "cmake", "scripts", "docs", ".venv", "build"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"}


def layer_of(rel: str):
    """The most specific ALLOWED key that `rel` (a path from the root) lies under, or None."""
    best = None
    for key in ALLOWED:
        if rel == key or rel.startswith(key + "/"):
            if best is None or len(key) > len(best):
                best = key
    return best


def check(root: pathlib.Path) -> list:
    errors = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in SOURCES or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in FREE or rel.split("/")[0].startswith("build"):
            continue
        here = layer_of(rel)
        if here is None:
            errors.append(f"{rel}: not in any folder of the layout (add it to ALLOWED in scripts/check_layout.py)")
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            header = m.group(1)
            target = layer_of(header)
            if target is None:
                # A header next to the including file ("cuda_check.cuh") or a system-like path.
                if (path.parent / header).exists():
                    continue
                errors.append(f'{rel}:{n}: includes "{header}", which is in no folder of the layout')
                continue
            if target == here or target in ALLOWED[here]:
                continue
            allowed = ", ".join(ALLOWED[here]) or "nothing but itself"
            errors.append(f'{rel}:{n}: {here} includes "{header}" from {target} '
                          f"(an edge up the stack; {here} may include: {allowed})")
    return errors


def table() -> str:
    rows = ["| folder | may include |", "|---|---|"]
    for key, deps in ALLOWED.items():
        rows.append(f"| `{key}/` | {', '.join(f'`{d}/`' for d in deps) or '—'} |")
    return "\n".join(rows)


def main(argv) -> int:
    if "--table" in argv:
        print(table())
        return 0
    root = pathlib.Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    errors = check(root)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check_layout: {len(errors)} include(s) break the layout (README \"Layout\")", file=sys.stderr)
        return 1
    print("check_layout: every #include follows the layout")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
