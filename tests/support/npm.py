"""npm packages the tests run under Node (the official AsyncAPI parser, nats.js for the JavaScript
example): installed once, at pinned versions, into a cache directory reused between runs
(SOTAY_TEST_NPM_DIR, else ~/.cache/sotay-tests/npm). A test skips, saying why, only when Node or
npm is missing or the npm registry cannot be reached; any other failure to install fails it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Signs that the registry was not reachable (no network, no DNS, a proxy refusing), as npm reports them.
UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH",
               "EHOSTUNREACH", "network request", "getaddrinfo", "socket hang up")


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (these tests need node and npm)")
    return node


def npm_packages(*specs: str, timeout: float = 300) -> Path:
    """The directory holding node_modules with exactly these packages (`name@version` each)."""
    node_binary()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    base = Path(os.environ.get("SOTAY_TEST_NPM_DIR") or Path.home() / ".cache" / "sotay-tests" / "npm")
    prefix = base / hashlib.sha256("\n".join(sorted(specs)).encode()).hexdigest()[:16]
    prefix.mkdir(parents=True, exist_ok=True)
    done = prefix / "installed.txt"
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes installing at once would tread on each other
        if done.exists() and done.read_text() == "\n".join(specs):
            return prefix
        result = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--ignore-scripts",
             "--no-save", "--loglevel=error", *specs],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            if any(sign in output for sign in UNREACHABLE):
                pytest.skip(f"the npm registry cannot be reached to install {', '.join(specs)}: "
                            f"{output.strip().splitlines()[-1] if output.strip() else ''}")
            raise AssertionError(f"npm install {' '.join(specs)} failed:\n{output}")
        done.write_text("\n".join(specs))
    return prefix
