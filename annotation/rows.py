"""Model instances from hand-written SQL, for the reads every workspace request makes.

Resuming the task in progress and locking it for an autosave join five tables. Django
compiles such a select_related query anew on every call, and that costs several times
what PostgreSQL takes to run it (2-4 ms against well under one); the workspace page and
each autosave would pay it every time. So those two statements are written once here,
and their rows become the same instances the ORM would give:

- the columns come from each model's fields, so a field added later is read too;
- each value goes through the ORM's own converters (SQLite's datetimes and JSON come
  back as they do from a queryset);
- instances are made with `Model.from_db`, the ORM's public way to do it.
"""

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from django.db import connection, models

Converter = Callable[[Any, Any, Any], Any]


class Selected:
    """One model's columns in a SELECT, under a table alias, and how to build an instance
    back from its slice of a row."""

    def __init__(self, model: type[models.Model], alias: str, names: Sequence[str] | None = None):
        """All the model's fields, or only those `names` (the others are deferred)."""
        self.model = model
        self.alias = alias
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if names is None or field.name in names or field.attname in names
        ]
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, list[tuple[int, list[Converter], Any]]] = {}
        self._columns: dict[str, str] = {}  # by database vendor, as the converters

    def columns(self) -> str:
        found = self._columns.get(connection.vendor)
        if found is None:
            quote = connection.ops.quote_name
            found = ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)
            self._columns[connection.vendor] = found
        return found

    def _converters_for(self) -> list[tuple[int, list[Converter], Any]]:
        """What the ORM's compiler would apply to each column, per database vendor."""
        found = self._converters.get(connection.vendor)
        if found is None:
            found = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(
                    connection
                )
                if converters:
                    found.append((position, converters, column))
            self._converters[connection.vendor] = found
        return found

    def build(self, values: Sequence[Any]) -> models.Model:
        values = list(values)
        for position, converters, column in self._converters_for():
            for converter in converters:
                values[position] = converter(values[position], column, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


def _built(row: Sequence[Any], parts: Sequence[Selected]) -> list[Any]:
    built, start = [], 0
    for part in parts:
        end = start + len(part.fields)
        built.append(part.build(row[start:end]))
        start = end
    built.extend(row[start:])
    return built


def fetch_first(sql: str, params: Sequence[Any], parts: Sequence[Selected]) -> list | None:
    """Run a SELECT of `parts`' columns (in that order) and build one instance of each from
    its first row, or None if it has no row. Columns selected after theirs follow the
    instances as they come (see json_rows)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else _built(row, parts)


def json_rows(columns: Sequence[str], source: str, *, json_columns: Sequence[str] = ()) -> str:
    """A scalar subquery to select beside a row: the rows of `source` ("FROM ... WHERE ...")
    as one JSON array of arrays of `columns` (`json_columns` are JSON, kept as JSON rather
    than as text). It saves a round trip for a few small rows that belong to the row, such
    as an annotation's saved answers; read it with `from_json_rows`."""
    if connection.vendor == "postgresql":
        return f"(SELECT json_agg(json_build_array({', '.join(columns)})) {source})"
    items = [f"json({column})" if column in json_columns else column for column in columns]
    return f"(SELECT json_group_array(json_array({', '.join(items)})) {source})"


def from_json_rows(value: Any) -> list[list[Any]]:
    """What json_rows selected, as lists of values: none when the source had no rows."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


Statement = tuple[str, list[Any]]


def update_statement(
    model: type[models.Model],
    values: dict[str, Any],
    where: str,
    params: Sequence[Any],
    *,
    increment: Sequence[str] = (),
) -> Statement:
    """UPDATE the model's table: each named field to its value, prepared by the field as the
    ORM's update() would (JSON, datetimes), and each field in `increment` plus one, in the
    rows `where` (SQL) selects; as SQL and parameters, for run() or update_along()."""
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    assignments = [f"{quote(field.column)} = %s" for field in fields]
    for name in increment:
        column = quote(meta.get_field(name).column)
        assignments.append(f"{column} = {column} + 1")
    prepared = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    sql = f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} WHERE {where}"
    return sql, [*prepared, *params]


def run(statement: Statement) -> int:
    """Run a statement that changes rows (update_statement()); how many it changed. An
    autosave makes two updates; compiled by the ORM they cost more than PostgreSQL takes to
    run them."""
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return cursor.rowcount


def update_along(statement: Statement, along: Statement) -> tuple[int, int]:
    """Run an update_statement() and `along`, another, with it: on PostgreSQL in the same
    statement (WITH ...), one round trip instead of two; elsewhere just before it, in the
    caller's transaction either way. The rows each changed (`along`'s count only matters
    when the first changed some)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(*along)
            along_count = cursor.rowcount
            cursor.execute(*statement)
            return cursor.rowcount, along_count
        cursor.execute(
            f"WITH along AS ({along[0]} RETURNING 1) {statement[0]} "
            "RETURNING (SELECT count(*) FROM along)",
            [*along[1], *statement[1]],
        )
        row = cursor.fetchone()
        return cursor.rowcount, (row[0] if row else 0)


def select_list(parts: Sequence[Selected]) -> str:
    return ", ".join(part.columns() for part in parts)


def tables(parts: Sequence[Selected]) -> dict[str, str]:
    """Each part's table by its alias (quoted), to write the FROM and JOINs with."""
    quote = connection.ops.quote_name
    return {part.alias: quote(part.model._meta.db_table) for part in parts}
