"""`kjda demo` and `kjda oa-sim` come from the kjda-oasim distribution through the
`kjda.commands` entry point group; without it they say how to install it."""

from __future__ import annotations

import importlib.metadata

from kjda.cli import build_parser, main


def test_demo_and_oa_sim_come_from_kjda_oasim_entry_points():
    args = build_parser().parse_args(["demo", "--no-oa", "--records", "10"])
    assert args.func.__module__ == "kjda_oasim.cli" and args.records == 10
    assert build_parser().parse_args(["oa-sim"]).func.__module__ == "kjda_oasim.cli"


def test_demo_without_kjda_oasim_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [])
    assert main(["demo", "--no-oa"]) == 2
    err = capsys.readouterr().err
    assert "kjda-oasim" in err and "pip install -e ./oasim" in err and "需要安装" in err
