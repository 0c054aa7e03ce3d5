"""Directory sync against the simulated DingTalk: how long a sync of N people takes (first run,
unchanged re-run, and a run where 5 % left and 10 % moved department), in-process on a fresh
SQLite database (or DATABASE_URL).

    python bench/bench_directory_sync.py [--people 5000] [--departments 50]

Every person is an SSO-linked KJDA user (SocialAccount + Profile, as after a first login); the
simulator serves the contact API over loopback HTTP with DingTalk's page size of 100. Prints
figures; exits non-zero if the outcome is wrong (a leaver still active, a move not applied).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import bench_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--departments", type=int, default=50)
    args = parser.parse_args()
    if "KJDA_DATA_DIR" not in os.environ:  # a temporary one, removed at exit
        os.environ["KJDA_DATA_DIR"] = bench_dir("kjda-bench-dir-")
        atexit.register(shutil.rmtree, os.environ["KJDA_DATA_DIR"], True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    os.environ.setdefault("KJDA_OUTBOUND_ALLOW", "127.0.0.1")  # the simulator is on loopback
    import django

    django.setup()
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from kjda.accounts.models import Profile
    from kjda.connectors import directory as _directory
    from kjda.connectors.services import connector_create
    from kjda_oasim.core import OASimulator
    from kjda_oasim.dingtalk import DingTalkSim

    call_command("migrate", verbosity=0)
    sim = OASimulator([DingTalkSim()])
    sim.start()
    dingtalk = sim.vendors["dingtalk"]
    users = []
    for n in range(args.people):
        uid = f"u{n:06d}"
        dingtalk.directory_add(uid, name=f"员工{n}", department=f"部门{n % args.departments}")
        users.append(get_user_model()(username=uid))
    get_user_model().objects.bulk_create(users, batch_size=1000)
    saved = {u.username: u for u in get_user_model().objects.filter(username__startswith="u")}
    Profile.objects.bulk_create([Profile(user=u, roles=["employee"]) for u in saved.values()],
                                batch_size=1000)
    SocialAccount.objects.bulk_create([SocialAccount(user=u, provider="dingtalk", uid=name)
                                       for name, u in saved.items()], batch_size=1000)
    connector = connector_create(kind="dingtalk", name="bench",
                                 settings=dingtalk.connector_settings())

    def timed(label: str) -> dict:
        start = time.perf_counter()
        counts = _directory.directory_sync(connector=connector)
        elapsed = time.perf_counter() - start
        print(f"{label:<28} {elapsed:7.2f} s  {args.people / elapsed:8.0f} people/s  {counts}")
        return counts

    print(f"directory sync, DingTalk simulator, {args.people} people in "
          f"{args.departments} departments")
    timed("first sync")
    timed("unchanged")
    leavers = [f"u{n:06d}" for n in range(0, args.people, 20)]
    movers = [f"u{n:06d}" for n in range(1, args.people, 10)]
    for uid in leavers:
        dingtalk.directory_remove(uid)
    for uid in movers:
        dingtalk.directory_add(uid, name=dingtalk.users[uid]["name"], department="新部门")
    counts = timed("5 % left, 10 % moved")
    sim.stop()
    still_active = get_user_model().objects.filter(username__in=leavers, is_active=True).count()
    not_moved = Profile.objects.filter(user__username__in=movers).exclude(
        department="新部门").count()
    ok = still_active == 0 and not_moved == 0 and counts["deactivated"] == len(leavers)
    print(f"leavers still active: {still_active}; moves not applied: {not_moved}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
