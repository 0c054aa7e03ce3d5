"""`kjda manage sso_provider set|list`: configure SSO providers in the database (no restart).
The secret is read from the KJDA_SSO_SECRET environment variable or asked for, never taken
as an argument (it would show in the process list and shell history)."""

from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from kjda.accounts.sso.services import sso_provider_choices
from kjda.errors import DomainError


class Command(BaseCommand):
    help = "configure SSO providers (oidc and the OA platforms': dingtalk, wecom, feishu…)"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        put = sub.add_parser("set", help="add or change a provider")
        put.add_argument("provider", choices=sso_provider_choices())
        put.add_argument("--client-id", required=True,
                         help="client id / AppKey / CorpID / App ID")
        put.add_argument("--name", default="", help="the button's label")
        put.add_argument("--provider-id", default="", help="OIDC only: the URL segment")
        put.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                         help="e.g. server_url=https://idp/realms/x, agent_id=1000002")
        sub.add_parser("list", help="show the configured providers (never the secrets)")

    def handle(self, *args, **options) -> None:
        from allauth.socialaccount.models import SocialApp

        from kjda.accounts.sso.services import sso_app_save

        if options["verb"] == "list":
            for app in SocialApp.objects.order_by("provider", "provider_id"):
                self.stdout.write(f"{app.provider}\t{app.provider_id or '-'}\t{app.name}\t"
                                  f"{app.client_id}\t{app.settings}")
            return
        pairs = [s.partition("=") for s in options["setting"]]
        if any(not sep for _, sep, _ in pairs):
            raise CommandError("--setting takes KEY=VALUE")
        secret = os.environ.get("KJDA_SSO_SECRET") or getpass.getpass("secret: ")
        try:
            app = sso_app_save(provider=options["provider"], client_id=options["client_id"],
                               secret=secret, name=options["name"],
                               provider_id=options["provider_id"],
                               settings={k: v for k, _, v in pairs})
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"saved {app.provider} {app.provider_id or ''} ({app.name})")
