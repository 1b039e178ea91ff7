"""The tree file, parsed and checked; frozen onto an incident as plain data."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidresponse.duty.windows import DutyWindow, WindowError, parse_window

NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Keys a hotline caller may press for a tree: 9 switches language, * repeats, # ends a recording.
VOICE_KEYS = "012345678"


class TreeConfigError(ValueError):
    """The trees file is malformed; the message names the file and the place."""


@dataclass(frozen=True)
class Layer:
    number: int  # 1-based, in alert order
    name: str
    quorum: int
    wait_seconds: float
    verifies: bool = False
    next_waits_for_confirmation: bool = False
    zone_first: bool = False
    # Duty window in the network's local time ("05:00-14:00"); None: on duty around the clock.
    on_duty: str | None = None
    # Alert this many at a time, least recently alerted first; None: the whole layer at once.
    wave: int | None = None
    # How long a wave has to reach the quorum before the next wave goes (within wait_seconds).
    wave_wait_seconds: float | None = None

    @property
    def window(self) -> DutyWindow | None:
        return parse_window(self.on_duty) if self.on_duty else None


DEFAULT_WAVE_WAIT = 60.0


@dataclass(frozen=True)
class Tree:
    name: str
    keywords: tuple[str, ...]
    layers: tuple[Layer, ...]
    # The key a hotline caller presses for this tree ("1"); None: not offered on the hotline.
    voice_key: str | None = None
    # The network's time zone: duty windows (the layers' and members' HOURS) are in its local time.
    time_zone: str = "UTC"

    @property
    def zone_info(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def layer(self, number: int) -> Layer | None:
        return self.layers[number - 1] if 1 <= number <= len(self.layers) else None

    @property
    def verifier_layers(self) -> frozenset[int]:
        return frozenset(layer.number for layer in self.layers if layer.verifies)

    def freeze(self) -> dict[str, Any]:
        """Plain JSON-able data stored on an incident when it opens."""
        return {"name": self.name, "keywords": list(self.keywords), "layers": [asdict(x) for x in self.layers],
                "voice_key": self.voice_key, "time_zone": self.time_zone}

    @classmethod
    def thaw(cls, data: Mapping[str, Any]) -> Tree:
        return cls(
            name=str(data["name"]),
            keywords=tuple(data.get("keywords", ())),
            layers=tuple(Layer(**layer) for layer in data["layers"]),
            voice_key=data.get("voice_key"),
            time_zone=str(data.get("time_zone", "UTC")),
        )


@dataclass(frozen=True)
class Trees:
    trees: Mapping[str, Tree]
    default_tree: str
    # Where a hotline caller's report goes when they pressed no usable key (never dropped).
    hotline_default_tree: str = ""
    time_zone: str = "UTC"

    @property
    def zone_info(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def get(self, name: str | None) -> Tree:
        return self.trees[name or self.default_tree]

    def __contains__(self, name: object) -> bool:
        return name in self.trees

    @property
    def report_words(self) -> dict[str, str]:
        """Upper-case keyword -> tree name, for the keyword parser."""
        return {word: tree.name for tree in self.trees.values() for word in tree.keywords}

    @property
    def voice_keys(self) -> dict[str, str]:
        """Hotline key -> tree name, in key order (the menu is read in this order)."""
        keyed = {tree.voice_key: tree.name for tree in self.trees.values() if tree.voice_key is not None}
        return dict(sorted(keyed.items()))

    @property
    def hotline_tree(self) -> Tree:
        return self.get(self.hotline_default_tree or self.default_tree)


def load_trees(path: Path) -> Trees:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TreeConfigError(f"{path}: cannot read: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TreeConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_trees(data, source=str(path))


def parse_trees(data: Mapping[str, Any], source: str = "trees") -> Trees:
    unknown_top = set(data) - {"trees", "default_tree", "hotline_default_tree", "time_zone"}
    if unknown_top:
        raise TreeConfigError(f"{source}: unknown setting {sorted(unknown_top)[0]!r}")
    time_zone = _time_zone(f"{source}: time_zone", data.get("time_zone"))
    raw_trees = data.get("trees")
    if not isinstance(raw_trees, dict) or not raw_trees:
        raise TreeConfigError(f"{source}: needs at least one [trees.NAME] table")
    trees: dict[str, Tree] = {}
    seen_words: dict[str, str] = {}
    seen_keys: dict[str, str] = {}
    for name, raw in raw_trees.items():
        where = f"{source}: trees.{name}"
        if not NAME.match(name):
            raise TreeConfigError(f"{where}: a tree name is lower-case letters, digits and _")
        if not isinstance(raw, dict):
            raise TreeConfigError(f"{where}: must be a table")
        unknown = set(raw) - {"keywords", "layers", "voice_key"}
        if unknown:
            raise TreeConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
        words = raw.get("keywords", [])
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise TreeConfigError(f"{where}.keywords: must be a list of words")
        keywords = tuple(w.strip().upper() for w in words)
        for word in keywords:
            if word in seen_words:
                raise TreeConfigError(f"{where}.keywords: {word} is also a keyword of {seen_words[word]}")
            seen_words[word] = name
        voice_key = _voice_key(f"{where}.voice_key", raw.get("voice_key"))
        if voice_key is not None:
            if voice_key in seen_keys:
                raise TreeConfigError(f"{where}.voice_key: {voice_key} is also the voice_key of {seen_keys[voice_key]}")
            seen_keys[voice_key] = name
        raw_layers = raw.get("layers")
        if not isinstance(raw_layers, list) or not raw_layers:
            raise TreeConfigError(f"{where}: needs at least one [[trees.{name}.layers]]")
        layers = tuple(_layer(f"{where}.layers[{i}]", i, raw_layer) for i, raw_layer in enumerate(raw_layers, 1))
        if any(layer.on_duty for layer in layers) and "time_zone" not in data:
            raise TreeConfigError(f"{where}: a layer with on_duty needs the network's time_zone at the top "
                                  "of the file (e.g. time_zone = \"America/Chicago\")")
        trees[name] = Tree(name=name, keywords=keywords, layers=layers, voice_key=voice_key, time_zone=time_zone)
    default = data.get("default_tree", next(iter(trees)))
    if default not in trees:
        raise TreeConfigError(f"{source}: default_tree {default!r} is not one of the trees")
    hotline = data.get("hotline_default_tree", default)
    if hotline not in trees:
        raise TreeConfigError(f"{source}: hotline_default_tree {hotline!r} is not one of the trees")
    return Trees(trees=trees, default_tree=str(default), hotline_default_tree=str(hotline), time_zone=time_zone)


def _time_zone(where: str, raw: Any) -> str:
    """An IANA time zone name ("America/Chicago"); UTC when the file names none."""
    if raw is None:
        return "UTC"
    if not isinstance(raw, str) or not raw.strip():
        raise TreeConfigError(f"{where}: must be a time zone name like \"America/Chicago\"")
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise TreeConfigError(f"{where}: {raw!r} is not a time zone this machine knows (e.g. "
                              "\"America/Chicago\", \"America/Los_Angeles\")") from None
    return raw.strip()


def _voice_key(where: str, raw: Any) -> str | None:
    """One key of the phone's keypad, 0-8 (9, * and # mean other things on the hotline)."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or len(raw.strip()) != 1 or raw.strip() not in VOICE_KEYS:
        raise TreeConfigError(f"{where}: must be one key from 0 to 8 (9 switches language, * repeats)")
    return raw.strip()


def _layer(where: str, number: int, raw: Any) -> Layer:
    if not isinstance(raw, dict):
        raise TreeConfigError(f"{where}: must be a table")
    unknown = set(raw) - {"name", "quorum", "wait_seconds", "verifies", "next_waits_for_confirmation", "zone_first",
                          "on_duty", "wave", "wave_wait_seconds"}
    if unknown:
        raise TreeConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    quorum = raw.get("quorum", 1)
    wait = raw.get("wait_seconds", 300)
    if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
        raise TreeConfigError(f"{where}.quorum: must be a whole number of at least 1")
    if not isinstance(wait, int | float) or isinstance(wait, bool) or wait <= 0:
        raise TreeConfigError(f"{where}.wait_seconds: must be a positive number of seconds")
    flags = {}
    for flag in ("verifies", "next_waits_for_confirmation", "zone_first"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise TreeConfigError(f"{where}.{flag}: must be true or false")
        flags[flag] = value
    if flags["next_waits_for_confirmation"] and not flags["verifies"]:
        raise TreeConfigError(f"{where}.next_waits_for_confirmation: only a verifying layer (verifies = true) "
                              "can make the next layer wait for a confirmation")
    on_duty = raw.get("on_duty")
    if on_duty is not None:
        if not isinstance(on_duty, str):
            raise TreeConfigError(f"{where}.on_duty: must be a window like \"05:00-14:00\"")
        try:
            on_duty = str(parse_window(on_duty))
        except WindowError as exc:
            raise TreeConfigError(f"{where}.on_duty: {exc}") from None
    wave = raw.get("wave")
    if wave is not None and (not isinstance(wave, int) or isinstance(wave, bool) or wave < 1):
        raise TreeConfigError(f"{where}.wave: must be a whole number of at least 1 (people per wave)")
    wave_wait = raw.get("wave_wait_seconds")
    if wave_wait is not None:
        if wave is None:
            raise TreeConfigError(f"{where}.wave_wait_seconds: only a layer alerted in waves (wave = N) has one")
        if not isinstance(wave_wait, int | float) or isinstance(wave_wait, bool) or wave_wait <= 0:
            raise TreeConfigError(f"{where}.wave_wait_seconds: must be a positive number of seconds")
    if wave is not None:
        wave_wait = float(wave_wait if wave_wait is not None else min(DEFAULT_WAVE_WAIT, float(wait) / 2))
        if wave_wait >= float(wait):
            raise TreeConfigError(f"{where}.wave_wait_seconds: must be shorter than the layer's wait_seconds "
                                  "(the next wave goes before the next layer)")
    return Layer(number=number, name=str(raw.get("name", f"layer {number}")), quorum=quorum,
                 wait_seconds=float(wait), **flags, on_duty=on_duty, wave=wave, wave_wait_seconds=wave_wait)
