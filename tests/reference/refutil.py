"""Shared helpers for the reference tests: locate the build, run grpo_ref, skip cleanly."""
import os
import subprocess
import sys

SKIP = 77  # CTest SKIP_RETURN_CODE


def require(*modules):
    """Import the Python packages a test compares against, or skip (exit 77) if one is missing."""
    loaded = []
    for name in modules:
        try:
            loaded.append(__import__(name))
        except ImportError as e:
            print(f"SKIP: python package {name} not importable ({e}); run scripts/setup.sh")
            sys.exit(SKIP)
    return loaded


def build_dir():
    return os.environ.get("GRPO_BUILD_DIR") or os.path.join(source_dir(), "build")


def source_dir():
    return os.environ.get("GRPO_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ref_tool(*args, check=True):
    """Runs build/tests/grpo_ref with args; returns CompletedProcess (stdout/stderr as text)."""
    exe = os.path.join(build_dir(), "tests", "grpo_ref")
    proc = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"grpo_ref {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


class Checks:
    """Counts named checks and prints 'N passed, N failed' at the end; exit code 1 on any failure."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
