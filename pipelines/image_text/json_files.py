"""Reading annotation JSON: whole files (COCO), streamed top-level arrays (Visual Genome), and
the text checks that go with it.

Bytes that are not UTF-8 must not reject a whole annotation file (one bad caption in 400,000
would): files are decoded with ``errors="surrogateescape"``, so such bytes survive as lone
surrogates (U+DC80..U+DCFF) in the one string that holds them, which :func:`has_bad_utf8` finds
(as it finds a JSON escape of a lone surrogate, ``"\\udc80"``, which is no text either).

Visual Genome's files are large (``relationships.json`` 0.7 GB, ``region_descriptions.json``
0.7 GB): :func:`iter_json_array` parses one element of the top-level array at a time, so the
driver holds one image's entry of the raw JSON, never the whole file's objects.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.image_text.errors import MalformedAnnotationError

CHUNK_BYTES = 1 << 20
# One element of a streamed array larger than this is refused (a missing bracket would
# otherwise pull the rest of a gigabyte file into one string).
MAX_ELEMENT_CHARS = 256 << 20
BOM = "\ufeff"


def has_bad_utf8(text: str) -> bool:
    """True when ``text`` holds a lone surrogate: undecodable bytes, or an escaped one.

    Strict UTF-8 encoding fails on exactly those (U+D800..U+DFFF), in C: 0.05 us for a
    caption, where a Python loop over its characters took 2 us (10 us per COCO image).
    """
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def repair_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (for names and labels)."""
    if not has_bad_utf8(text):
        return text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def _malformed(rel: str, error: json.JSONDecodeError) -> MalformedAnnotationError:
    return MalformedAnnotationError(
        f"{rel}: malformed JSON at line {error.lineno} column {error.colno}: {error.msg}; "
        "the whole file is rejected"
    )


def read_json_file(path: str | Path, rel: str) -> Any:
    """The JSON content of a whole file (non-UTF-8 bytes kept as lone surrogates).

    Raises:
        MalformedAnnotationError: not valid JSON (the message names line and column).
    """
    text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    try:
        return json.loads(text.removeprefix(BOM))
    except json.JSONDecodeError as exc:
        raise _malformed(rel, exc) from None


class _ArrayStream:
    """A text buffer over a file, refilled chunk by chunk, that drops what was parsed."""

    def __init__(self, handle, rel: str, chunk_bytes: int) -> None:
        self.handle, self.rel, self.chunk_bytes = handle, rel, chunk_bytes
        self.text = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.decoder = json.JSONDecoder()
        self.buf, self.pos, self.eof, self.line = "", 0, False, 0

    def fill(self) -> None:
        """Drop the parsed text, append the next chunk (``eof`` once the file is read)."""
        self.line += self.buf.count("\n", 0, self.pos)
        data = self.handle.read(self.chunk_bytes)
        self.eof = not data
        self.buf = self.buf[self.pos :] + self.text.decode(data, final=self.eof)
        self.pos = 0

    def peek(self) -> str | None:
        """The next non-whitespace character (not consumed), None at the end of the file."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return None
            self.fill()

    def fail(self, message: str, at: int | None = None) -> MalformedAnnotationError:
        """The whole file rejected, naming the line of position ``at`` (default: current)."""
        line = self.line + self.buf.count("\n", 0, self.pos if at is None else at) + 1
        return MalformedAnnotationError(
            f"{self.rel}: malformed JSON at line {line}: {message}; the whole file is rejected"
        )

    def value(self) -> Any:
        """The JSON value starting at the next non-whitespace character."""
        if self.peek() is None:
            raise self.fail("unexpected end of the file")
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.fail(exc.msg, exc.pos) from None
                if len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
                    message = f"an element longer than {MAX_ELEMENT_CHARS} characters"
                    raise self.fail(message) from None
                self.fill()
                continue
            if end == len(self.buf) and not self.eof:  # a number may go on in the next chunk
                self.fill()
                continue
            self.pos = end
            return value


def iter_json_array(path: str | Path, rel: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
    """The elements of the file's top-level JSON array, one at a time.

    Raises (possibly after yielding some elements: callers keep nothing of a file that
    failed):
        MalformedAnnotationError: not a JSON array, or malformed anywhere in the file.
    """
    with open(path, "rb") as handle:
        stream = _ArrayStream(handle, rel, chunk_bytes)
        while not stream.buf and not stream.eof:
            stream.fill()
        if stream.buf.startswith(BOM):
            stream.pos = 1
        if stream.peek() != "[":
            raise stream.fail("expected a JSON array ('[') at the start of the file")
        stream.pos += 1
        if stream.peek() == "]":
            stream.pos += 1
        else:
            while True:
                yield stream.value()
                char = stream.peek()
                stream.pos += 1
                if char == ",":
                    continue
                if char == "]":
                    break
                stream.pos -= 1
                found = "the end of the file" if char is None else repr(char)
                raise stream.fail(f"expected ',' or ']' after an array element, found {found}")
        if stream.peek() is not None:
            raise stream.fail("extra data after the top-level array")
