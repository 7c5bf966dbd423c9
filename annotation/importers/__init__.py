"""Read conversation files in every supported format into plain records.

Nothing here touches the database: `annotation.imports` writes what this yields.
"""

from collections.abc import Iterator
from typing import IO

from annotation.importers.formats import FORMATS, PARSERS, Parser, detect
from annotation.importers.readers import Where, open_stream, read_records
from annotation.importers.records import (
    ConversationData,
    Problem,
    RecordError,
    TurnData,
    describe_problem,
    turns_text_hash,
)

__all__ = [
    "FORMATS",
    "ConversationData",
    "Problem",
    "RecordError",
    "TurnData",
    "Where",
    "describe_problem",
    "detect",
    "iter_conversations",
    "open_stream",
    "turns_text_hash",
]


def iter_conversations(
    stream: IO[bytes], format: str | None = None
) -> Iterator[tuple[Where, ConversationData | Problem, str | None]]:
    """Yield (where, conversation or problem, format name) for every record of a file.

    The format is detected from the first readable record unless given.
    """
    if format is not None and format not in PARSERS:
        raise ValueError(f'unknown format "{format}" (expected {", ".join(FORMATS)})')
    parser: Parser | None = PARSERS[format]() if format else None
    # A file of a shape we do not read fails detection on every record: say it once.
    undetected: dict[str, int] = {}
    for where, value in read_records(stream):
        if isinstance(value, Problem):
            yield where, value, parser and parser.name
            continue
        if parser is None:
            try:
                parser = detect(value)()
            except RecordError as exc:
                message = str(exc)
                if message not in undetected:
                    yield where, where.problem(message), None
                undetected[message] = undetected.get(message, 0) + 1
                continue
        try:
            for conversation in parser.parse(value, where):
                yield where, conversation, parser.name
        except RecordError as exc:
            yield where, where.problem(str(exc)), parser.name
    if parser is not None:
        for item in parser.finish():
            yield Where(), item, parser.name
    repeats = sum(undetected.values()) - len(undetected)
    if repeats:
        message = f"{repeats:,} more record{'s' if repeats != 1 else ''} failed the same way"
        yield Where(), Problem(line=None, message=message), None
