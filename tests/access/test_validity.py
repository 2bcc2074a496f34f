"""The one definition of a valid visit (fieldwork/access/validity.py): the SQL clause and the
in-memory test agree on every combination, and the rule is written nowhere else."""

from __future__ import annotations

import ast
from itertools import product
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork.access.validity import is_valid_visit, valid_visit_clause
from fieldwork.visits.models import Visit

ROOT = Path(__file__).resolve().parent.parent.parent


def test_clause_and_memory_agree(db, world, make_user, make_household, make_visit):
    helper = make_user("helper")
    hh = make_household(helper=helper)
    visits = {}
    for status, superseded in product(("none", "accepted", "rejected"), (False, True)):
        visits[(status, superseded)] = make_visit(hh, helper, review_status=status,
                                                  superseded=superseded)
    counted = set(db.session.scalars(sa.select(Visit.id).where(valid_visit_clause())))
    assert counted == {visits[("none", False)].id, visits[("accepted", False)].id}
    for visit in visits.values():
        assert is_valid_visit(visit) == (visit.id in counted), (visit.review_status,
                                                                visit.superseded)


def _rule_written_out(path: Path) -> list[int]:
    """Lines where a module compares review_status with "rejected" itself."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
                and node.left.attr == "review_status"
                and any(isinstance(op, ast.NotEq) for op in node.ops)
                and any(isinstance(c, ast.Constant) and c.value == "rejected"
                        for c in node.comparators)):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("package", ["fieldwork", "offline_sync"])
def test_the_rule_is_written_once(package):
    home = ROOT / "fieldwork" / "access" / "validity.py"
    copies = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / package).rglob("*.py"))
              if p != home for n in _rule_written_out(p)]
    assert not copies, "valid visit written out again; call access.validity instead: " + \
        ", ".join(copies)
