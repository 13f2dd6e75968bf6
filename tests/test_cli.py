"""The command line: every command says what it does, with an example."""

from __future__ import annotations

import pytest

from targen_ray.interface.cli import main

COMMANDS = "run retry-rejects export analyze publish verify submit status logs stop estimate fake-server".split()


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS)])
def test_help_has_an_example(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "targen " in out
