"""penstock.cli.progress: in a log (stderr not a terminal) each message stays on one line."""

from __future__ import annotations

from penstock.cli.progress import ConsoleProgress


def test_a_long_message_is_not_broken_across_lines_in_a_log(capsys):
    error = "the model did not answer: " + " ".join(f"word{i}" for i in range(60))  # ~400 characters
    progress = ConsoleProgress(["Trainer"])
    with progress:
        progress.node_retrying("Trainer", 1, error)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith(error), lines
