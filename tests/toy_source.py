"""A tiny source adapter for the generic ingest runner's tests (workers import it by name).

Inputs are text files ``<group>/<name>.txt`` with one integer per line; a row per integer. A
line that is not an integer is a dropped row (rejected at ``parse``); a file named ``*.bad``
is listed but rejected; a file whose first line is ``BROKEN`` fails as a whole (at ``read``).
Every ``open_decoder`` call (the per-process state) appends a line to ``<log_dir>/opens.txt``,
so a test can see that the state is built once per actor, not once per input.

For the fault tests: ``stateless=True`` makes the runner use plain Ray tasks instead of an actor
pool, and ``pause_on=<source>`` makes the first attempt at decoding that input write its
process id to ``<log_dir>/paused.pid`` and wait (up to ``PAUSE_S``) for the test to kill the
process; a retried attempt finds the file and decodes at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from crossmodal_ray.pipelines.core.quarantine import IngestError, at_stage, rejected_row
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem, sum_summaries

SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("group", pa.string()),
        pa.field("value", pa.int64()),
    ]
)


PAUSE_S = 120.0
PAUSED_PID_FILE = "paused.pid"


class BrokenFileError(IngestError):
    """The file says it is broken."""


class CountingDecoder:
    """Per-process state: how many inputs this process decoded."""

    def __init__(self) -> None:
        self.decoded = 0


class ToySource:
    format = "toy"
    schema_version = 1
    group_key_name = "group"
    input_noun = "files"
    stages = ("list", "read", "parse")
    decoder_needs_actor = True

    def __init__(
        self, root: str, log_dir: str, stateless: bool = False, pause_on: str | None = None
    ) -> None:
        self.root = root
        self.log_dir = log_dir
        self.decoder_needs_actor = not stateless
        self.pause_on = pause_on

    def schema(self) -> pa.Schema:
        return SCHEMA

    def list_inputs(self):
        root = Path(self.root)
        items = [
            InputItem(
                source=path.relative_to(root).as_posix(),
                group_key=path.parent.name,
                split="test" if path.parent.name == "official_test" else None,
                size_bytes=path.stat().st_size,
            )
            for path in sorted(root.rglob("*.txt"))
        ]
        rejected = [
            rejected_row(p.relative_to(root).as_posix(), "list", "not a .txt file")
            for p in sorted(root.rglob("*.bad"))
        ]
        return items, rejected

    def open_decoder(self) -> CountingDecoder:
        with open(Path(self.log_dir) / "opens.txt", "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return CountingDecoder()

    def pause_first_attempt(self) -> None:
        """Write this process's id once (first attempt only) and wait to be killed."""
        try:
            fd = os.open(Path(self.log_dir) / PAUSED_PID_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # a retry: the first attempt's process was killed
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        deadline = time.monotonic() + PAUSE_S
        while time.monotonic() < deadline:
            time.sleep(0.1)

    def decode(self, item: InputItem, state: CountingDecoder) -> DecodedInput:
        if item.source == self.pause_on:
            self.pause_first_attempt()
        with at_stage("read"):
            lines = (Path(self.root) / item.source).read_text().split()
            if lines and lines[0] == "BROKEN":
                raise BrokenFileError(f"{item.source} says it is broken")
        rows, rejected = [], []
        for index, line in enumerate(lines):
            sample_id = f"{item.source}:{index}"
            if not line.lstrip("-").isdigit():
                rejected.append(rejected_row(item.source, "parse", f"not an integer: {line!r}"))
                continue
            rows.append(
                {
                    "sample_id": sample_id,
                    "source": item.source,
                    "group": item.group_key,
                    "value": int(line),
                }
            )
        state.decoded += 1
        return DecodedInput(rows=pa.Table.from_pylist(rows, schema=SCHEMA), rejected=rejected)

    def summarize(self, rows, infos):
        return {"value_sum": sum(rows.column("value").to_pylist()), "rows": rows.num_rows}

    def manifest_fields(self, summaries):
        totals = {split: sum_summaries(items) or {} for split, items in summaries.items()}
        return {"value_sums": {split: s.get("value_sum", 0) for split, s in totals.items()}}
