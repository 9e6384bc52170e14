"""Meridian's one language for formulas and conditions.

Parse and type-check once (:func:`compile_expression`), then evaluate per record in Python
(:meth:`CompiledExpression.evaluate`) or compile to a SQLAlchemy expression for filters, rules
and reports over many rows (:meth:`CompiledExpression.to_sql`). Both back ends follow SQL's
semantics, so they agree on every row. The language reference is ``docs/expressions.md``.
"""

from meridian.expr.compiled import CompiledExpression, compile_expression, environment
from meridian.expr.errors import ExpressionError
from meridian.expr.guards import Guard, guard_of
from meridian.expr.runtime import Env
from meridian.expr.sql import ChildSql, LinkSql, SqlScope
from meridian.expr.types import ChildScope, ExprType, FieldInfo, LinkScope, Scope

__all__ = [
    "ChildScope",
    "ChildSql",
    "CompiledExpression",
    "Env",
    "ExprType",
    "ExpressionError",
    "FieldInfo",
    "Guard",
    "LinkScope",
    "LinkSql",
    "Scope",
    "SqlScope",
    "compile_expression",
    "environment",
    "guard_of",
]
