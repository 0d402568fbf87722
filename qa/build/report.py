"""What a build did (`BuildReport`) and how it tells progress (`Reporter`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qa.records import Problem


@dataclass
class BuildReport:
    index_dir: Path
    articles: int = 0
    chunks: int = 0
    embedded: int = 0  # passages embedded in this build (the rest came from the previous index)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False

    @property
    def skipped(self) -> int:
        return len({p.file for p in self.problems if p.skipped})

    def summary(self) -> str:
        if self.up_to_date:
            return (
                f"index {self.index_dir} is up to date: {self.articles} articles, {self.chunks} passages "
                f"({self.seconds:.1f} s)"
            )
        return (
            f"built {self.index_dir}: {self.articles} articles, {self.chunks} passages, "
            f"{self.skipped} skipped files, {self.seconds:.1f} s "
            f"(added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}; embedded {self.embedded} passages)"
        )


class Reporter:
    """Callbacks for progress; the CLI shows them with rich, tests ignore them."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int, total: int, seconds: float) -> None: ...

    def problem(self, problem: Problem) -> None: ...
