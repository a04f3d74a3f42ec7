"""The layers hold (pyproject.toml's import-linter contracts): the system stands on the
services, the services on the contracts, the contracts on the kit, no service imports
another, and inside every service the entrypoints stand on the handlers, the handlers on
the adapters, the adapters on the domain. The contracts are shown to catch what they are
for: a copy of the code with one upward or one sideways import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("layers")
    for package in ("sotay", "services"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_code_keeps_its_layers():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module,added,contract", [
    ("sotay/kit/http.py", "import services.members.domain", "stands on the services"),  # the kit reaching up
    ("sotay/contracts/fields.py", "import sotay.system.registry", "stands on the services"),
    ("services/identity/domain.py", "import services.members.domain", "No service imports another"),  # sideways
    # inside a service: the rules reaching up to a use case, an adapter to a route
    ("services/content/domain/__init__.py", "import services.content.handlers.articles", "In every service"),
    ("services/metrics/adapters/figures.py", "import services.metrics.entrypoints.http", "In every service"),
])
def test_an_upward_or_sideways_import_breaks_a_contract(copy_of_the_code, module, added, contract):
    path = copy_of_the_code / module
    original = path.read_text()
    path.write_text(original + f"\n{added}  # added by the test\n")
    try:
        done = lint(copy_of_the_code)
    finally:
        path.write_text(original)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout and contract in done.stdout.replace("\n", " "), done.stdout
