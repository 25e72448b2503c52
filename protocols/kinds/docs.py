"""The format tables of ``protocols/README.md``, generated from the kinds' declarations.

Each table in the README sits between ``<!-- keys: NAME -->`` and ``<!-- /keys -->``,
where NAME is a phase type (the trial phases share ``trial``), ``rating-block``,
``probes-block`` or ``questionnaire-item``.
:func:`update_readme` rewrites them; a test fails when the README and the declarations
disagree. Run ``python -m pavlov.protocols.kinds.docs`` to rewrite the README.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pavlov.protocols.kinds import KINDS
from pavlov.protocols.kinds.keys import markdown_table
from pavlov.protocols.kinds.probe import PROBE_KEYS
from pavlov.protocols.kinds.questionnaire import ITEM_KEYS
from pavlov.protocols.kinds.shared import RATING_KEYS
from pavlov.protocols.kinds.trial import TrialKind

__all__ = ["README", "readme_tables", "update_readme"]

#: The README the tables are written into.
README = Path(__file__).resolve().parents[1] / "README.md"

_BLOCK = re.compile(r"(<!-- keys: ([\w-]+) -->\n)(.*?)(<!-- /keys -->)", re.S)


def readme_tables() -> dict[str, str]:
    """Every generated table by its name (``trial``, ``wait``, ..., ``rating-block``).

    The phases' common ``instructions`` key is documented once, above the tables.
    """
    tables: dict[str, str] = {
        "rating-block": markdown_table(RATING_KEYS),
        "probes-block": markdown_table(PROBE_KEYS),
        "questionnaire-item": markdown_table(ITEM_KEYS),
    }
    for kind in KINDS.values():
        name = "trial" if isinstance(kind, TrialKind) else kind.name
        keys = tuple(
            k for k in kind.keys if k.name != "instructions" or not kind.instructions_first
        )
        tables.setdefault(name, markdown_table(keys))
    return tables


def update_readme(text: str) -> str:
    """``text`` (the README) with every marked table replaced by the generated one.

    Raises
    ------
    KeyError
        For a marker naming no table.
    """
    tables = readme_tables()

    def replace(match: re.Match[str]) -> str:
        return match.group(1) + tables[match.group(2)] + match.group(4)

    return _BLOCK.sub(replace, text)


def marked(text: str) -> set[str]:
    """The table names the README marks."""
    return {m.group(2) for m in _BLOCK.finditer(text)}


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    README.write_text(update_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    sys.exit(0)
