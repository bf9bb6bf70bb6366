"""What the connector and server suites share: the run they belong to and where rows go."""

from __future__ import annotations

from collections.abc import Callable

from bench.config import BenchConfig
from bench.procs import ProcessGroup
from bench.progress import Progress
from bench.results import Row


class Suite:
    """A suite's context: the run's config, the process group that stops every child, the
    progress bar, and the callback that rewrites the results after each measurement."""

    work_name = "suite"
    """The suite's scratch folder under the run's work dir."""

    def __init__(
        self,
        config: BenchConfig,
        group: ProcessGroup,
        progress: Progress,
        publish: Callable[[list[Row]], None],
    ) -> None:
        self.config = config
        self.group = group
        self.progress = progress
        self.publish = publish
        self.work = config.work_dir / self.work_name
