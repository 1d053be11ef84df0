"""API versions: parsing and comparing ClearML's partial semantic versions ("2.13", "1.5")."""

from __future__ import annotations

from dataclasses import dataclass, field


class InvalidVersion(ValueError):
    pass


@dataclass(frozen=True)
class Version:
    parts: tuple[int, ...]
    text: str
    #: the comparison key, padded once: read forms compare the caller's version several times
    #: per document
    _key: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", self.parts + (0,) * (3 - len(self.parts)))

    @classmethod
    def parse(cls, text: str) -> "Version":
        pieces = text.split(".")
        if not 1 <= len(pieces) <= 3:
            raise InvalidVersion(f"expected 1 to 3 components, got {len(pieces)}")
        parts = []
        for piece in pieces:
            if not piece.isdigit() or not piece.isascii():
                raise InvalidVersion(f"invalid component {piece!r}")
            if len(piece) > 1 and piece[0] == "0":
                raise InvalidVersion(f"leading zero in component {piece!r}")
            parts.append(int(piece))
        return cls(tuple(parts), text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: "Version") -> bool:
        return self._key < other._key

    def __le__(self, other: "Version") -> bool:
        return self._key <= other._key

    def __gt__(self, other: "Version") -> bool:
        return self._key > other._key

    def __ge__(self, other: "Version") -> bool:
        return self._key >= other._key

    def wire(self) -> str | float:
        """How the envelope shows this version: a string, or a number below 2.1 (reference quirk)."""
        if self < V2_1:
            return float(self.text) if "." in self.text else float(self.parts[0])
        return self.text

    def __str__(self) -> str:
        return self.text


V2_1 = Version.parse("2.1")
