"""Where the tests find real datasets: shipped in ``tests/data/`` or beside the checkout.

Datasets whose licence allows it (MIT: Homan et al. 2019, ReactExtMRI, EzySCR, the BIOPAC
recording) are shipped in ``tests/data/`` with their licences (``tests/data/NOTICE.md``). The
Abend et al. 2022 workbook has no licence file, so it is read only from ``../shared/datasets/``
when that folder is beside the checkout; without it, the tests that need it skip and name it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parent / "data"
BESIDE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def dataset(relative: str) -> Path:
    """Path of a dataset file or folder, e.g. ``dataset("homan2019/ptsd_scr.csv")``.

    Looks in ``tests/data/`` first, then ``../shared/datasets/``. When neither has it, the
    calling test is skipped with a reason that names the missing file.
    """
    for root in (SHIPPED, BESIDE):
        path = root / relative
        if path.exists():
            return path
    pytest.skip(
        f"needs dataset file {relative}: not shipped in tests/data (no licence to "
        f"redistribute it) and ../shared/datasets/ is not beside this checkout"
    )


def require_module(name: str, extra: str):
    """Import ``name`` for a test module that needs an optional extra.

    On a developer's machine without the extra the module's tests skip, naming it; under CI
    (``CI`` set), where ``.ci/install`` installs every extra, a missing one is a failure, so an
    install that lost an extra cannot pass as skipped tests.
    """
    import importlib
    import os

    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"needs {name}: pip install 'pavlov[{extra}]'"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the {extra} extra ({message})", pytrace=False)
        pytest.skip(message, allow_module_level=True)
