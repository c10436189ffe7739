"""Installing by hand, as the README says, gives a monitor that reads articles: a fresh
`python3 -m venv` with the pip it bundles (`make` upgrades pip first; this test must not),
`pip install` of this checkout, and an article page matched on its body by that install's
`monitor`.

The one test that uses the network: pip fetches monitor's dependencies from PyPI (its download
cache serves what it already has). Where pip cannot reach its index the test is skipped, saying
why; under CI=true it fails instead. It is marked `pypi` (`pytest -m pypi` runs it alone).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "tests" / "fixtures" / "articles" / "pages" / "062.html"  # The Japan Times (annotations.json)
ARTICLE_PHRASE = "shortage of face masks"  # in the article's text, not in its title
# What pip says when it cannot reach its index at all, rather than finding something wrong there.
UNREACHABLE = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|ProxyError|ConnectTimeoutError"
)


@pytest.mark.pypi
def test_a_by_hand_install_with_the_pip_venv_bundles_reads_an_article(tmp_path, pypi_unreachable):
    source = tmp_path / "checkout"
    # What a build reads (pyproject.toml names the readme and the package), copied so that
    # pip's build leaves nothing in the checkout. Installed as the service install does
    # (docs/operations.md) rather than editable (the README's `-e .`): the dependencies resolve
    # the same either way, and it takes no longer.
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "monitor", source / "monitor", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    # The interpreter running the suite, as `python3 -m venv` (Makefile's PYTHON) made its venv.
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    pip_version = subprocess.run([*pip, "--version"], check=True, capture_output=True, text=True).stdout.split()[1]

    # --no-compile: byte-compiling every dependency costs seconds and proves nothing here. Off
    # CI, one retry rather than five with backoff: a machine without network skips in seconds
    # (pip names the connection error only when it retries); CI keeps them against a flaky network.
    retries = [] if os.environ.get("CI") == "true" else ["--retries", "1"]
    install = subprocess.run(
        [*pip, "install", "--no-compile", *retries, str(source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    if install.returncode:
        offline = UNREACHABLE.search(install.stdout + install.stderr)
        if offline:
            pypi_unreachable(f"pip could not reach its package index ({offline.group()})")
        pytest.fail(f"pip {pip_version} could not install monitor:\n{install.stdout[-3000:]}{install.stderr[-3000:]}")

    shutil.copy(PAGE, tmp_path / "kobe.html")
    match = subprocess.run(
        [venv / "bin" / "monitor", "match", f'body:"{ARTICLE_PHRASE}"', "kobe.html"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert match.returncode == 0, f"with pip {pip_version}: {match.stderr}"
    assert f"**{ARTICLE_PHRASE}**" in match.stdout
