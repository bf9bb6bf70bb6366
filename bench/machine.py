"""What the numbers were measured on: without it a rec/s figure cannot be compared with anything."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"') + f" (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def describe() -> dict[str, str]:
    """Label -> value, in the order `results.md` shows them."""
    memory = memory_gib()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "CPU": cpu_model(),
        "Cores": str(os.cpu_count()),
        "RAM": f"{memory:.1f} GiB" if memory else "unknown",
        "OS": os_name(),
        "Python": platform.python_version(),
        "airbyte-cdk": package_version("airbyte-cdk"),
        "dlt": package_version("dlt"),
        "Node.js": tool_version(["node", "--version"]),
        "wrk": tool_version(["wrk", "--version"]),
        "Load average at start": " ".join(f"{x:.2f}" for x in load) if load else "unknown",
    }
