"""`kjda demo` and `kjda oa-sim`, registered with kjda's command line through the
`kjda.commands` entry point group (kjda itself has neither)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kjda.cli import build_parser, cmd_serve, django_setup, site_prepare


def register_demo(sub) -> None:
    demo = sub.add_parser("demo", help="load a realistic year of sample records")
    demo.add_argument("--year", type=int, default=None)
    demo.add_argument("--records", type=int, default=240)
    demo.add_argument("--years", type=int, default=None,
                      help="take the year N years back through custody and disposition on a "
                           "simulated clock: volumes, hand-over, appraisal after its 30-year "
                           "term, a hold, destruction, registers (e.g. --years 35)")
    demo.add_argument("--no-oa", action="store_true",
                      help="only load records; don't start KJDA and the OA simulator")
    demo.add_argument("--port", type=int, default=int(os.environ.get("KJDA_PORT", "8000")))
    demo.add_argument("--sim-port", type=int, default=9800)
    demo.set_defaults(func=cmd_demo)


def register_oa_sim(sub) -> None:
    sim = sub.add_parser("oa-sim", help="run the OA simulator (DingTalk, WeCom, Feishu, Weaver)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9800)
    sim.add_argument("--kjda", default="", help="KJDA URL: configure it and fire approvals "
                     "(token from KJDA_OA_SIM_TOKEN)")
    sim.add_argument("--rounds", type=int, default=1)
    sim.add_argument("--login-user", default="", help="the person signed in to the simulated "
                     "OA clients (authorize pages, in-app login codes), e.g. zhangsan")
    sim.set_defaults(func=cmd_oa_sim)


def cmd_demo(args: argparse.Namespace) -> int:
    """Load a realistic year of records; then (unless --no-oa) run KJDA with the OA simulator
    beside it, so approvals in simulated DingTalk/WeCom/Feishu/Weaver file themselves."""
    if not args.no_oa:  # the simulator runs on loopback, which outbound calls may not reach
        allow = os.environ.get("KJDA_OUTBOUND_ALLOW", "")
        os.environ["KJDA_OUTBOUND_ALLOW"] = ",".join(
            filter(None, [allow, f"127.0.0.1:{args.sim_port}"]))
    django_setup()
    generated = site_prepare()
    from django.utils import timezone

    from kjda_oasim.records import demo_load

    if args.years:
        from kjda_oasim.lifecycle_demo import lifecycle_demo

        lifecycle_demo(years=args.years, records=args.records,
                       log=lambda line: print(line, flush=True))
    else:
        year = args.year or timezone.localdate().year - 1
        count = demo_load(year=year, records=args.records)
        print(f"已载入 {count} 件 {year} 年示例档案 / loaded {count} demo records for {year}")
    if args.no_oa:
        return 0
    import subprocess

    from django.db import connections

    from kjda.accounts.services import system_user, token_issue

    # Its own account (an archivist, which may configure connectors), not the bootstrap admin:
    # that one holds secadmin, so the API admits it only after it has set up TOTP.
    sim_user = system_user(name="kjda-demo-oa", roles=["archivist"])
    _token, raw = token_issue(user=sim_user, name="kjda demo: OA simulator", ttl_hours=24)
    connections.close_all()  # nothing shared across the fork below
    kjda_url = f"http://127.0.0.1:{args.port}"
    sim = subprocess.Popen(  # noqa: S603 - our own CLI
        [str(Path(sys.executable).with_name("kjda")), "oa-sim", "--port",
         str(args.sim_port), "--kjda", kjda_url],
        env={**os.environ, "KJDA_OA_SIM_TOKEN": raw})
    if generated:
        print(f"管理员 admin 的密码 / admin password: {generated}")
    try:
        return cmd_serve(build_parser().parse_args(["serve", "--host", "127.0.0.1",
                                                    "--port", str(args.port)]))
    finally:
        sim.terminate()


def cmd_oa_sim(args: argparse.Namespace) -> int:
    django_setup()
    import time

    from kjda_oasim.loop import DemoLoop, build_simulator

    sim = build_simulator(args.host, args.port)
    print(f"OA 模拟器已启动 / OA simulator running: {sim.base_url}", flush=True)
    for vendor in sim.vendors.values():
        if args.login_user and hasattr(vendor, "login_user"):
            vendor.login_user = args.login_user
    print(f"  KJDA 需允许访问 / KJDA must be allowed to reach it: "
          f"KJDA_OUTBOUND_ALLOW={sim.base_url.split('://', 1)[-1].rstrip('/')}", flush=True)
    for name, vendor in sim.vendors.items():
        print(f"  {name}: {vendor.connector_settings()}")
        if hasattr(vendor, "sso_settings"):  # SocialApp values for SSO against the simulator
            print(f"  {name} SSO: {vendor.sso_settings()}")
    token = os.environ.get("KJDA_OA_SIM_TOKEN", "")
    if args.kjda and token:
        loop = DemoLoop(sim, args.kjda, token)
        loop.wait_for_kjda()
        loop.configure()
        print("已在 KJDA 中创建连接器和映射 / connectors and mappings created in KJDA", flush=True)
        loop.run(rounds=args.rounds, log=lambda line: print(line, flush=True))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
    return 0
