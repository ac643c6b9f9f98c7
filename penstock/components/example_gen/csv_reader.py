"""Reading CSV files fast (pyarrow, in batches) while reporting bad input by file and line.

pyarrow parses CSV in C++ but reports problems without line numbers (and silently swallows an
unterminated quote at the end of a file). So the fast path reads every column as text, checks
and infers types with vectorised casts, and only when something is wrong does a slow,
line-by-line scan with Python's ``csv`` module pin the problem to a line for the error message.

The same batch reader serves the type-inference pre-pass (run by the executor) and the
conversion to tf.Example (run by Beam workers), so both see exactly the same values.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from penstock.errors import InputDataError
from penstock.storage import filesystem

if TYPE_CHECKING:
    import pyarrow as pa

# Values that mean "missing" in CSV files as written by R, pandas, spreadsheets and databases.
DEFAULT_NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "#N/A"]
COLUMN_KINDS = ("int", "float", "string")
_BLOCK_SIZE = 4 << 20
# pyarrow 10 (pinned by tfx-bsl) crashes the process (SIGSEGV) parsing a block that holds a row
# of ~400k fields or more (apache/arrow#45497): rows far wider than any table are refused before
# pyarrow sees them. A row must also fit in one read block, so the block grows to the longest
# line, up to _MAX_ROW_BYTES.
_WIDE_ROW_FIELDS = 100_000
_MAX_ROW_BYTES = 512 << 20
_SCAN_CHUNK = 16 << 20


@dataclasses.dataclass(frozen=True)
class CsvOptions:
    """How to read the CSV files of one ExampleGen run (all picklable: shipped to Beam workers)."""

    delimiter: str = ","
    null_values: tuple[str, ...] = tuple(DEFAULT_NULL_VALUES)
    skip_bad_rows: bool = False


@dataclasses.dataclass
class BadRows:
    """Rows skipped in lenient mode: how many, and a few of them to show the user."""

    count: int = 0
    samples: list[str] = dataclasses.field(default_factory=list)

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.samples) < 5:
            self.samples.append(text[:200])


def read_header(path: str, options: CsvOptions) -> list[str]:
    """Column names from the first line; rejects empty files, empty and duplicate names."""
    with filesystem.open_input(path) as f:
        first = f.readline()
    if not first.strip():
        raise InputDataError(f"{path}: the file is empty; expected a header line with column names")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputDataError(f"{path}, line 1: the header is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    names = next(csv.reader([text.rstrip("\r\n")], delimiter=options.delimiter))
    for i, name in enumerate(names):
        if not name.strip():
            raise InputDataError(f"{path}, line 1: column {i + 1} of the header has no name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputDataError(f"{path}, line 1: duplicate column names in the header: {', '.join(dupes)}")
    return names


def data_ranges(path: str, target_bytes: int) -> list[tuple[int, int]]:
    """The file's data lines (after the header) cut into byte ranges of about ``target_bytes``,
    each starting at a line start. Safe because values spanning lines are rejected (see
    ``_reject_multiline_values``): every line break in an accepted file ends a row."""
    size = filesystem.size(path)
    with filesystem.open_input(path) as f:
        f.readline()
        start = f.tell()
        ranges = []
        while start < size:
            f.seek(min(start + target_bytes, size))
            f.readline()  # to the end of the line the cut falls in
            end = min(f.tell(), size)
            ranges.append((start, end))
            start = end
    return ranges


def iter_text_batches(
    path: str,
    columns: list[str],
    options: CsvOptions,
    bad_rows: BadRows | None = None,
    byte_range: tuple[int, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Every column as (nullable) text, batch by batch: the whole file, or the data lines in
    ``byte_range`` (from ``data_ranges``). Malformed input raises InputDataError naming the file
    and line, unless ``options.skip_bad_rows`` (then rows with a wrong field count are skipped
    and counted in ``bad_rows``)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    skipped = bad_rows if bad_rows is not None else BadRows()

    def on_invalid_row(row: object) -> str:
        if options.skip_bad_rows:
            skipped.add(str(getattr(row, "text", "")))
            return "skip"
        return "error"

    scan = LineScan(options.delimiter)
    if byte_range is None:
        source: Any = filesystem.arrow_source(path)
        with filesystem.open_input(path) as f:
            for chunk in iter(lambda: f.read(_SCAN_CHUNK), b""):
                scan.feed(chunk)
        block_size = scan.block_size(path, len(columns))
        read_options = pcsv.ReadOptions(block_size=block_size, encoding="utf8")
    else:
        start, end = byte_range
        with filesystem.open_input(path) as f:
            f.seek(start)
            data = f.read(end - start)
        scan.feed(data, offset=start)
        source = pa.BufferReader(data)
        read_options = pcsv.ReadOptions(block_size=scan.block_size(path, len(columns)), encoding="utf8",
                                        column_names=columns)
    try:
        reader = pcsv.open_csv(
            source,
            read_options=read_options,
            parse_options=pcsv.ParseOptions(delimiter=options.delimiter, invalid_row_handler=on_invalid_row),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                null_values=list(options.null_values),
                strings_can_be_null=True,
                check_utf8=True,
            ),
        )
        rows_before = 0
        for batch in reader:
            _reject_multiline_values(path, batch, rows_before, options)
            rows_before += batch.num_rows
            yield batch
    except pa.ArrowInvalid as e:
        raise InputDataError(locate_problem(path, options) or f"{path}: cannot parse CSV: {e}") from None


class LineScan:
    """The longest line and the line with the most delimiters, found with numpy over raw bytes
    (~1 GB/s) before pyarrow parses them; see ``_WIDE_ROW_FIELDS``. Delimiters inside quotes
    count too, so a row's field count is an upper bound."""

    def __init__(self, delimiter: str) -> None:
        self._delimiter = ord(delimiter)
        self.longest = self.longest_at = 0  # bytes, and the byte offset where that line starts
        self.widest = self.widest_at = 0  # fields (at most), and where that line starts
        self._end = 0  # offset just past what was fed
        self._line_start = 0
        self._line_delimiters = 0

    def feed(self, chunk: bytes, offset: int | None = None) -> None:
        import numpy as np

        if offset is not None and not self._end:
            self._end = self._line_start = offset
        data = np.frombuffer(chunk, np.uint8)
        ends = np.flatnonzero(data == 10)
        delimiters = np.flatnonzero(data == self._delimiter)
        if len(ends):
            before = np.searchsorted(delimiters, ends)  # delimiters before each line end
            fields = np.diff(before, prepend=0) + 1
            fields[0] += self._line_delimiters
            starts = np.concatenate(([self._line_start - self._end], ends[:-1] + 1)) + self._end
            self._note(ends + self._end - starts, fields, starts)
            self._line_start = self._end + int(ends[-1]) + 1
            self._line_delimiters = len(delimiters) - int(before[-1])
        else:
            self._line_delimiters += len(delimiters)
        self._end += len(chunk)
        # The line still open counts as it is so far (a file may end without a line break).
        self._note([self._end - self._line_start], [self._line_delimiters + 1], [self._line_start])

    def _note(self, lengths: Any, fields: Any, starts: Any) -> None:
        import numpy as np

        i, j = int(np.argmax(lengths)), int(np.argmax(fields))
        if lengths[i] > self.longest:
            self.longest, self.longest_at = int(lengths[i]), int(starts[i])
        if fields[j] > self.widest:
            self.widest, self.widest_at = int(fields[j]), int(starts[j])

    def block_size(self, path: str, columns: int) -> int:
        """The read block size for pyarrow; InputDataError for a row it cannot read safely."""
        if self.widest > _WIDE_ROW_FIELDS:
            raise InputDataError(
                f"{path}, line {_line_at(path, self.widest_at)}: a row of up to {self.widest:,} fields (the header has "
                f"{columns}); pyarrow's CSV reader crashes on rows this wide (apache/arrow#45497), so penstock stops "
                "before reading the file. Fix or remove the row (a missing line break?)"
            )
        if self.longest > _MAX_ROW_BYTES:
            raise InputDataError(
                f"{path}, line {_line_at(path, self.longest_at)}: a line of {self.longest / 2**20:,.0f} MiB; penstock "
                f"reads rows of up to {_MAX_ROW_BYTES >> 20} MiB (a missing line break?)"
            )
        # A row may straddle one block boundary, not two: every line must fit in a block.
        return _BLOCK_SIZE if self.longest < _BLOCK_SIZE else self.longest + (1 << 20)


def _line_at(path: str, offset: int) -> int:
    """The line number of the line starting at byte ``offset`` (an error path: reads up to it)."""
    count = 1
    with filesystem.open_input(path) as f:
        while offset > 0:
            chunk = f.read(min(_SCAN_CHUNK, offset))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def _reject_multiline_values(path: str, batch: pa.RecordBatch, rows_before: int, options: CsvOptions) -> None:
    # pyarrow reads an unterminated quote at the end of a file as one long value running to
    # the end; a value holding a line break is the visible trace of that.
    import pyarrow.compute as pc

    for column in batch.columns:
        if pc.any(pc.match_substring(column, "\n")).as_py():
            raise InputDataError(
                locate_problem(path, options)
                or f"{path}: a value spans several lines (unterminated quote?) near data row {rows_before + 1}"
            )


def locate_problem(path: str, options: CsvOptions) -> str | None:
    """Slow path: scan the file line by line and describe the first problem, or None.

    Reports non-UTF-8 bytes, rows with the wrong number of fields and unterminated quotes, each
    with the line number where the offending row starts."""
    with filesystem.open_input(path) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        bad = raw[e.start : e.start + 4]
        return (
            f"{path}, line {line}: bytes {bad!r} are not valid UTF-8 ({e.reason}); "
            "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        )
    _allow_long_values()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter, strict=True)
    expected: int | None = None
    start_line = 1
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return None
        except csv.Error as e:
            return f"{path}, line {start_line}: malformed CSV ({e}); check for an unterminated or stray quote"
        if not row:
            continue
        if expected is None:
            expected = len(row)
            continue
        if any("\n" in value or "\r" in value for value in row):
            return (
                f"{path}, line {start_line}: a quoted value runs over several lines (to line {reader.line_num}); "
                "an unterminated quote is the usual cause"
            )
        if len(row) != expected and not options.skip_bad_rows:
            return (
                f"{path}, line {start_line}: expected {expected} fields (as in the header), found {len(row)}: "
                f"{options.delimiter.join(row)[:200]!r}. Fix the row, or set bad_rows='skip' to skip and count such rows"
            )


def _allow_long_values() -> None:
    # A value beyond the csv module's default limit (128 KiB) is fine for penstock: the block
    # size follows the longest line. Raising the process-wide limit only ever admits more.
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_ROW_BYTES))


def line_of_row(path: str, row_index: int, options: CsvOptions) -> int:
    """The line on which data row ``row_index`` (0-based, blank lines skipped) starts."""
    _allow_long_values()
    with io.TextIOWrapper(filesystem.open_input(path), encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=options.delimiter)
        next(reader, None)  # header
        seen = -1
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return -1
            if row:
                seen += 1
                if seen == row_index:
                    return start


class TypeInference:
    """Infers int / float / string per column across all batches of all files.

    A column is int if every non-missing value parses as an integer, float if every value parses
    as a number, string if its first value is not a number. A column that starts numeric and
    later holds text is a data error (a type change mid-file), reported by line."""

    def __init__(self, columns: list[str], declared: dict[str, str], options: CsvOptions) -> None:
        self.options = options
        self.declared = dict(declared)
        self.kinds: dict[str, str | None] = {c: declared.get(c) for c in columns}
        self._first_value: dict[str, tuple[str, int, str]] = {}

    def update(self, path: str, batch: pa.RecordBatch, rows_before: int) -> None:
        import pyarrow as pa

        for name, column in zip(batch.schema.names, batch.columns):
            kind = self.kinds.get(name)
            if kind == "string" or column.null_count == len(column):
                continue
            if name not in self._first_value:
                index = _first_valid_index(column)
                self._first_value[name] = (path, rows_before + index, column[index].as_py())
            if kind is None:
                first = self._first_value[name][2]
                if not _parses(first, pa.float64()):
                    self.kinds[name] = "string"
                    continue
                kind = "int"
            if kind == "int" and _casts(column, pa.int64()):
                self.kinds[name] = "int"
            elif kind in ("int", "float") and name not in self.declared and _casts(column, pa.float64()):
                self.kinds[name] = "float"
            elif kind == "float" and _casts(column, pa.float64()):
                self.kinds[name] = "float"
            else:
                self._raise_type_change(path, name, kind, column, rows_before)

    def _raise_type_change(self, path: str, name: str, kind: str, column: pa.Array, rows_before: int) -> None:
        import pyarrow as pa

        # An inferred column fails on its first value that is no number at all (an int column
        # turning float is a widening, not a failure); a declared int on its first non-int.
        target = pa.int64() if kind == "int" and name in self.declared else pa.float64()
        values = column.to_pylist()
        index = next(i for i, v in enumerate(values) if v is not None and not _parses(v, target))
        line = line_of_row(path, rows_before + index, self.options)
        where = f"{path}, line {line}" if line > 0 else f"{path}, data row {rows_before + index + 1}"
        if name in self.declared:
            raise InputDataError(
                f"{where}: column {name!r} is declared {kind} but holds {values[index]!r}"
            )
        first_path, first_row, first_value = self._first_value[name]
        first_line = line_of_row(first_path, first_row, self.options)
        raise InputDataError(
            f"{where}: column {name!r} changes type: it held numbers (first {first_value!r} at "
            f"{os.path.basename(first_path)} line {first_line}) but here holds {values[index]!r}. "
            f"Fix the value, mark it missing (one of {list(self.options.null_values)}), or declare the "
            f"column with column_types={{{name!r}: 'string'}}"
        )

    def result(self) -> dict[str, str]:
        # A column with no value at all carries no type information: keep it as text.
        return {c: k or "string" for c, k in self.kinds.items()}


def _first_valid_index(column: pa.Array) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_valid(column), True).as_py())


def _casts(column: pa.Array, target: pa.DataType) -> bool:
    import pyarrow as pa

    try:
        column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _parses(value: str, target: pa.DataType) -> bool:
    import pyarrow as pa

    return _casts(pa.array([value], pa.string()), target)


def typed_batch(batch: pa.RecordBatch, kinds: dict[str, str], drop: tuple[str, ...] = ()) -> pa.RecordBatch:
    """Text columns cast to their kinds, as the types tf.Example holds (int64 / float32 / bytes;
    a missing value stays null, i.e. a missing feature)."""
    import pyarrow as pa

    arrays, names = [], []
    for name, column in zip(batch.schema.names, batch.columns):
        if name in drop:
            continue
        kind = kinds[name]
        if kind == "int":
            values = column.cast(pa.int64())
        elif kind == "float":
            values = column.cast(pa.float64()).cast(pa.float32())
        else:
            values = column.cast(pa.large_binary())
        arrays.append(values)
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names)
