"""Platform kinds → their simulator classes (the runtime wheel has no simulators)."""

from __future__ import annotations

from importlib import import_module

SIMS: dict[str, str] = {
    "dingtalk": "kjda_oasim.dingtalk:DingTalkSim",
    "wecom": "kjda_oasim.wecom.sim:WeComSim",
    "feishu": "kjda_oasim.feishu:FeishuSim",
    "weaver": "kjda_oasim.weaver:WeaverSim",
}


def sim_class(kind: str):
    module, _, name = SIMS[kind].partition(":")
    return getattr(import_module(module), name)
