"""Shared fixtures: the built-in spec, the seed's values, and the real-engine gates (LibreOffice, Gnumeric)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tools.gnumeric import ssconvert_path
from tools.soffice import soffice_path
from xltemplate.catalog import load_spec, templates_dir
from xltemplate.spec import Spec

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
#: The first form's sample returns (without Excel's lock files) and the national form's.
FIRST_RETURNS = sorted(p for p in (SAMPLES / "returns").glob("*.xlsx") if not p.name.startswith("~$"))
NATIONAL_RETURNS = sorted((SAMPLES / "national" / "returns").glob("*.xlsx"))


def mixed_inbox(box: Path, national_first: bool = False) -> Path:
    """``box`` filled with both forms' sample returns; with ``national_first`` a national one sorts first (``000 …``)."""
    import shutil

    for p in FIRST_RETURNS:
        shutil.copy2(p, box / p.name)
    for n, p in enumerate(NATIONAL_RETURNS):
        shutil.copy2(p, box / (f"000 {p.name}" if national_first and n == 0 else p.name))
    return box


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice for the real-engine tests: skip without it, but fail under CI (CI=true)."""
    exe = soffice_path()
    if exe is None:
        if under_ci():
            pytest.fail("CI=true but LibreOffice (soffice) is missing: .ci/run must install libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


@pytest.fixture(scope="session")
def gnumeric() -> str:
    """Gnumeric (ssconvert), the second real engine: skip without it, but fail under CI (CI=true)."""
    exe = ssconvert_path()
    if exe is None:
        if under_ci():
            pytest.fail("CI=true but Gnumeric (ssconvert) is missing: .ci/run must install gnumeric")
        pytest.skip("Gnumeric (ssconvert) is not installed")
    return exe


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec(templates_dir() / "sh-project-self-eval.yaml")


@pytest.fixture(scope="session")
def seed_values() -> dict:
    return yaml.safe_load((SAMPLES / "seed-values.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpus(spec: Spec, seed_values: dict, tmp_path_factory: pytest.TempPathFactory):
    """The validation corpus (tests/corpus.py), built once per session; LibreOffice-saved files when it is there."""
    from tests.corpus import CorpusBuilder

    root = tmp_path_factory.mktemp("corpus")
    cases = CorpusBuilder(spec, seed_values, root).build(with_engine=soffice_path() is not None)
    return root, cases
