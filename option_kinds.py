"""The kinds of value an image option takes (options.py declares the options).

A kind reads a value from a query string (``parse``) and from JSON (``from_json``), says in
words what it expects, and gives the JSON Schema of its values as JSON holds them (``schema``)
and as a query string does (``text_schema``), for the OpenAPI document. A bad value is a
ValueError and a JSON value of the wrong type a TypeError; the option turns either into its
own BadOption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

TRUE, FALSE = ("true", "1"), ("false", "0")
# What a JSON value of each type is called in an error.
JSON_WORDS = {"string": "a string", "boolean": "true or false", "integer": "a whole number"}


class Kind(Protocol):
    json_type: str  # "string", "boolean" or "integer"

    @property
    def json_words(self) -> str:
        """What a JSON value of the right type is, in words: "a string"."""
        ...

    @property
    def expected(self) -> str:
        """What a good value is, in words, to follow "<option> must be"."""
        ...

    def parse(self, raw: str) -> Any:
        """The value written as ``raw`` in a query string; ValueError if it is not one."""
        ...

    def from_json(self, value: object) -> Any:
        """The value a JSON field holds; TypeError for the wrong JSON type, ValueError for a
        bad value."""
        ...

    def schema(self) -> dict[str, Any]:
        """JSON Schema of a good value in JSON."""
        ...

    def text_schema(self) -> dict[str, Any]:
        """JSON Schema of a good value in a query string."""
        ...

    def shown(self, default: Any) -> str:
        """The values for the README's table, in Markdown."""
        ...


class TextKind:
    """A kind whose JSON values are strings, read as a query string's would be."""

    json_type = "string"

    @property
    def json_words(self) -> str:
        return JSON_WORDS[self.json_type]

    def parse(self, raw: str) -> Any:
        raise NotImplementedError

    def from_json(self, value: object) -> Any:
        if not isinstance(value, str):
            raise TypeError(value)
        return self.parse(value)

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def text_schema(self) -> dict[str, Any]:
        return self.schema()


@dataclass(frozen=True)
class Size(TextKind):
    """``WIDTHxHEIGHT``, each side a whole number from ``smallest`` to ``largest``."""

    smallest: int
    largest: int

    @property
    def expected(self) -> str:
        return (f"WIDTHxHEIGHT with each side from {self.smallest} to {self.largest}, "
                f"e.g. 768x512")

    def parse(self, raw: str) -> tuple[int, int]:
        width, separator, height = raw.lower().partition("x")
        if separator and is_digits(width) and is_digits(height):
            size = int(width), int(height)
            if all(self.smallest <= side <= self.largest for side in size):
                return size
        raise ValueError(raw)

    def schema(self) -> dict[str, Any]:
        side = whole_numbers_pattern(self.smallest, self.largest)
        return {"type": "string", "pattern": f"^{side}[xX]{side}$"}

    def shown(self, default: Any) -> str:
        return f"`WxH`, each side {self.smallest} to {self.largest}"


@dataclass(frozen=True)
class Choice(TextKind):
    """One of ``values``; with ``any_case``, in any mix of cases; ``aliases`` are other
    spellings of some of them. ``shown`` stands for the values in the README, where listing
    them would say less (e.g. "a name from `GET /styles`")."""

    values: tuple[str, ...]
    any_case: bool = False
    aliases: Mapping[str, str] = field(default_factory=dict)
    shown_as: str | None = None
    separator: str = ", "  # between the values in the README

    @property
    def expected(self) -> str:
        if len(self.values) == 1:
            return self.values[0]
        return f"one of {', '.join(self.values)}"

    def parse(self, raw: str) -> str:
        name = raw.lower() if self.any_case else raw
        name = self.aliases.get(name, name)
        if name not in self.values:
            raise ValueError(raw)
        return name

    def spellings(self) -> list[str]:
        return [*self.values, *self.aliases]

    def schema(self) -> dict[str, Any]:
        if self.any_case:
            return {"type": "string", "pattern": any_case(*self.spellings())}
        return {"enum": self.spellings()}

    def shown(self, default: Any) -> str:
        if self.shown_as:
            return self.shown_as
        return self.separator.join(f"`{value}`" + (" (default)" if value == default else "")
                                   for value in self.values)


@dataclass(frozen=True)
class Flag:
    """True or false: ``true``/``1`` and ``false``/``0`` in any case in a query string, a JSON
    boolean in JSON."""

    json_type = "boolean"
    expected = f"{TRUE[0]}, {FALSE[0]}, {TRUE[1]} or {FALSE[1]}"
    json_words = JSON_WORDS["boolean"]

    def parse(self, raw: str) -> bool:
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise ValueError(raw)

    def from_json(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise TypeError(value)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def text_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": any_case(*TRUE, *FALSE)}

    def shown(self, default: Any) -> str:
        return " / ".join(f"`{word}`" for word in (TRUE[0], FALSE[0]))


@dataclass(frozen=True)
class WholeNumber:
    """A whole number from ``smallest`` to ``largest``; JSON's 7.0 is the whole number 7."""

    smallest: int
    largest: int
    json_type = "integer"
    json_words = JSON_WORDS["integer"]

    @property
    def expected(self) -> str:
        return f"a whole number from {self.smallest} to {self.largest}"

    def parse(self, raw: str) -> int:
        if is_digits(raw) and self.smallest <= int(raw) <= self.largest:
            return int(raw)
        raise ValueError(raw)

    def from_json(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return self.parse(str(int(value)))

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.smallest, "maximum": self.largest}

    def text_schema(self) -> dict[str, Any]:
        # The digits themselves, as a query string carries them: a schema of integers let a
        # fuzzer's "invalid" null reach the server as an empty value, which is no value at all.
        numbers = whole_numbers_pattern(max(1, self.smallest), self.largest)
        return {"type": "string",
                "pattern": f"^(?:{'0|' if self.smallest == 0 else ''}{numbers})$"}

    def shown(self, default: Any) -> str:
        return f"{self.smallest} to {self.largest}"


def is_digits(text: str) -> bool:
    """Only the ASCII digits 0-9: str.isdigit() also takes "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def any_case(*words: str) -> str:
    """A pattern for ``words`` in any mix of cases (JSON Schema's patterns have no flag for it)."""
    spelled = ("".join(f"[{letter.upper()}{letter.lower()}]" if letter.isalpha() else letter
                       for letter in word) for word in words)
    return f"^({'|'.join(spelled)})$"


def whole_numbers_pattern(smallest: int, largest: int) -> str:
    """A pattern group for the whole numbers from ``smallest`` (1 or more) to ``largest``, as
    written without leading zeros: 64 to 2048 is 6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|1[0-9]{3}|..."""
    if smallest < 1:
        raise ValueError("the smallest number must be 1 or more")
    pieces = []
    start = smallest
    while start <= largest:
        # The longest run from start that is one digit over a range followed by free digits.
        free = 0
        while start % 10 ** (free + 1) == 0 and start + 10 ** (free + 1) - 1 <= largest:
            free += 1
        step = 10 ** free
        first = last = start // step % 10
        while last < 9 and start + (last - first + 2) * step - 1 <= largest:
            last += 1
        prefix = str(start // (step * 10)) if start >= step * 10 else ""
        digit = str(first) if first == last else f"[{first}-{last}]"
        tail = "" if free == 0 else "[0-9]" if free == 1 else f"[0-9]{{{free}}}"
        pieces.append(prefix + digit + tail)
        start += (last - first + 1) * step
    return f"({'|'.join(pieces)})"
