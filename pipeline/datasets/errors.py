"""Problems found in a data set, collected so that all of them are reported at once."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import InputError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (file, line or frame) and what was expected.

    ``video_id`` is the video the problem belongs to (what ``on_error: skip`` leaves out).
    """

    video_id: str
    path: str
    message: str
    line: int | None = None  # 1-based line of a text file
    frame: int | None = None  # 0-based frame of a video

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.frame is not None:
            where += f" (frame {self.frame})"
        return f"{where}: {self.message}"


class DataSetError(InputError):
    """The data set has problems; the message lists every one of them."""

    def __init__(self, problems: list[Problem], root: str = "", limit: int = 50):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the data set"
        if root:
            head += f" at {root}"
        lines = [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        hint = "(set ingest.on_error: skip in params.yaml to leave the broken videos out)"
        super().__init__("\n".join([head + ":", *lines, hint]))
