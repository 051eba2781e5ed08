"""The simulator's documented rules, restated in Python so tests can predict exact values."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Optional

from pydantic import BaseModel

REPLY = "Mock reply to: "
TOOL_REPLY = "Mock reply to tool result: "


def tokens(text: str) -> int:
    """ceil(len(text) / 4): len() counts Unicode scalars, as the simulator does."""
    return math.ceil(len(text) / 4)


def words(text: str) -> list[str]:
    """The default stream pieces: one per word, each keeping the whitespace after it."""
    return re.findall(r"\S+\s*", text) or [text]


def compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def embedding(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{text}#{block}".encode()).digest()
        values += [(b - 128) / 128 for b in digest]
        block += 1
    return values[:dimensions]


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class Place(BaseModel):
    code: str


class City(BaseModel):
    """A Pydantic model whose JSON Schema has what strict SDK schemas have: a nested model ($defs
    and $ref), an optional field (anyOf with null), a list."""
    name: str
    population: int
    country: Place
    tags: list[str]
    nickname: Optional[str]


# What mock-provider builds from City's schema (docs/mock-provider.md).
CITY = City(name="mock-name", population=1, country=Place(code="mock-code"), tags=["mock-tags"], nickname="mock-nickname")
