"""`Palette`: the class names and colours of colour label maps, shared by the data that writes
such maps (the demo's `shapes`, Helen) and the metrics that score translations onto them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Palette:
    """Class names and their 8-bit RGB colours, in class-index order."""

    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...]

    def __post_init__(self):
        if len(self.names) != len(self.colours):
            raise ValueError(f"Palette has {len(self.names)} names but {len(self.colours)} colours; expected one colour per name")

    def __len__(self) -> int:
        return len(self.colours)
