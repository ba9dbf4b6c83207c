"""The progress bars of the long `ushk` commands (service/cli/common.py: `progress`,
`progress_option`): drawn on stderr only when it is a terminal, never on stdout, and not at all
with --no-progress. A pseudo-terminal (pty) stands for the operator's terminal."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import click
from click.testing import CliRunner

from service import audit
from service.cli import cli
from service.cli.common import drawing, progress, progress_option
from svc_support import REPO, server_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _pty() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    return master, slave


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_the_helper_draws_nothing_off_a_terminal_and_on_one_draws():
    off = io.StringIO()
    assert not drawing(off)
    with progress(5, "work", stream=off) as advance:
        for _ in range(5):
            advance(1)
    assert off.getvalue() == ""

    master, slave = _pty()
    with os.fdopen(slave, "w", encoding="utf-8") as terminal:
        assert drawing(terminal)
        with progress(lambda: 5, "work", stream=terminal) as advance:
            for _ in range(5):
                advance(1)
        with progress(3, "hidden", stream=terminal, enabled=False) as advance:
            advance(3)
    drawn = _read_all(master)
    assert "work" in drawn and "5/5" in drawn and "hidden" not in drawn


def test_log_lines_meanwhile_go_above_the_bar(monkeypatch):
    master, slave = _pty()
    terminal = os.fdopen(slave, "w", encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(terminal)
    logging.getLogger().addHandler(handler)
    try:
        with progress(2, "work") as advance:
            assert handler.stream is not terminal  # rich's proxy of stderr, while the bar is live
            logging.getLogger("ushk.test").warning("range done")
            advance(2)
        assert handler.stream is terminal
    finally:
        logging.getLogger().removeHandler(handler)
        terminal.close()
    drawn = _read_all(master)
    assert "range done\n" in drawn.replace("\r", "") and "2/2" in drawn


def test_no_progress_turns_it_off_on_a_terminal():
    master, slave = _pty()
    terminal = os.fdopen(slave, "w", encoding="utf-8")

    @click.command()
    @progress_option
    def long() -> None:
        with progress(2, "steps", stream=terminal) as advance:
            advance(2)
        click.echo(f"drawing: {drawing(terminal)}")

    assert CliRunner().invoke(long, ["--no-progress"]).output == "drawing: False\n"
    assert CliRunner().invoke(long, []).output == "drawing: True\n"
    terminal.close()
    drawn = _read_all(master)
    assert drawn.count("steps") >= 1 and "2/2" in drawn  # from the second run only


def test_audit_verify_is_clean_on_pipes(env):
    env.add_bank("hsbc")
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["audit", "verify", "--no-chain"], env=server_env(env.settings)
    )
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("audit chain OK")


def _verify_on_a_terminal(env, *flags: str) -> tuple[str, str]:
    """`ushk audit verify --no-chain` as a process with stderr on a pseudo-terminal and stdout a
    pipe: (stdout, what the terminal received)."""
    environment = server_env(env.settings)
    environment.update(TERM="xterm-256color", COLUMNS="120")
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "NO_COLOR"):
        environment.pop(name, None)
    master, slave = _pty()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "audit", "verify", "--no-chain", *flags],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=environment,
        cwd=str(REPO),
    )
    os.close(slave)
    drawn = _read_all(master)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    assert process.wait(60) == 0, (stdout, drawn)
    return stdout, drawn


def test_audit_verify_draws_on_a_terminal_and_keeps_stdout_clean(env):
    env.add_bank("hsbc")
    env.add_bank("boc")
    with env.db.reading() as session:
        size, _ = audit.head(session)
    stdout, drawn = _verify_on_a_terminal(env)
    assert "tree" in drawn and f"{size}/{size}" in drawn
    assert stdout.splitlines()[0].startswith(f"audit chain OK: {size} entries")
    assert "tree" not in stdout and "━" not in stdout

    stdout, drawn = _verify_on_a_terminal(env, "--json")
    assert f"{size}/{size}" in drawn
    assert json.loads(stdout)["tree"]["checked"] == size

    stdout, drawn = _verify_on_a_terminal(env, "--no-progress")
    assert drawn == "" and stdout.startswith("audit chain OK")
