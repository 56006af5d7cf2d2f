"""The rules of ``kit check`` and the engine that runs them.

One module per family of rules (``repository``, ``publiccode``, ``reuse``, ``ci``,
``service``, ``template``); :func:`all_rules` collects them in code order. ``python -m
kitcli.checks.docs`` writes one documentation page per rule from this code.
"""

from __future__ import annotations

from ._context import ProjectContext
from ._engine import (
    FAMILIES,
    Outcome,
    Rule,
    RuleResult,
    Severity,
    Status,
    all_rules,
    failed,
    not_applicable,
    passed,
    register,
    run,
)

__all__ = [
    "FAMILIES",
    "Outcome",
    "ProjectContext",
    "Rule",
    "RuleResult",
    "Severity",
    "Status",
    "all_rules",
    "failed",
    "not_applicable",
    "passed",
    "register",
    "run",
]
