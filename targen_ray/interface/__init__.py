"""The interface: the `targen` command (cli.py, commands.py), the library call per command (api.py),
Ray job submission (submit.py) and the terminal (terminal.py). The only layer that imports the whole engine."""
