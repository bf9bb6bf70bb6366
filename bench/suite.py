"""What the connector and server suites share: the run they belong to and where rows go."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.config import BenchConfig
from bench.mock import RunningServer, start_mock_server
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

    def start_mock(self, leads: int, log_dir: Path) -> RunningServer:
        """`chatnode-mock-server` with the run's key, bot and seed, serving `leads` leads."""
        return start_mock_server(
            self.group,
            self.config.executable("chatnode-mock-server"),
            api_key=self.config.api_key,
            bot_id=self.config.bot_id,
            leads=leads,
            seed=self.config.seed,
            log_dir=log_dir,
        )
