"""What the demo records as it runs (shown in the terminal and in the HTML report), and the
:class:`Narrator` through which every scenario talks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console

from driftline.present.progress import Steps

if TYPE_CHECKING:
    from driftline.repair import RepairResult
    from driftline.store import Model

__all__ = ["DemoSummary", "Narrator", "ScenarioRun", "WindowRecord"]


@dataclass
class WindowRecord:
    """One stream window as the agent saw it."""

    index: int
    regime: str
    n: int
    drift: bool
    psi: float
    ks: float
    drifted_share: float
    model: str
    accuracy: float
    action: str = ""
    regime_mix: dict[str, float] = field(default_factory=dict)


@dataclass
class ScenarioRun:
    """What happened on one deployment."""

    name: str
    deployment: str
    title: str
    windows: list[WindowRecord] = field(default_factory=list)
    repair: RepairResult | None = None
    test_accuracy: dict[str, float] = field(default_factory=dict)
    active: Any = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    #: label requests as the annotator saw them (tabular data: the original records)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DemoSummary:
    """What the demo did (also what the HTML report shows)."""

    seed: int
    store: str
    lineage: list[Model] = field(default_factory=list)
    scenarios: list[ScenarioRun] = field(default_factory=list)
    html: str | None = None
    seconds: float = 0.0

    @property
    def windows(self) -> list[WindowRecord]:
        return self.scenarios[0].windows if self.scenarios else []

    @property
    def repair(self) -> RepairResult | None:
        return self.scenarios[0].repair if self.scenarios else None

    @property
    def test_accuracy(self) -> dict[str, float]:
        return self.scenarios[0].test_accuracy if self.scenarios else {}


@dataclass
class Narrator:
    """Where the demo talks: ``con`` for its story, ``steps`` for the progress line (a no-op
    when off), and ``step_lines`` for the dim "· step" lines of repair and active learning."""

    con: Console
    steps: Steps
    step_lines: bool = True

    def say(self, message: str) -> None:
        """One step of a long operation: the progress line, and a dim line unless quiet."""
        self.steps.say(message)
        if self.step_lines:
            self.con.print(f"  [dim]· {message}[/dim]")

    @property
    def progress(self) -> Callable[[str], None]:
        """:meth:`say` as the ``progress`` callback of ``repair`` / ``run_active_learning``."""
        return self.say
