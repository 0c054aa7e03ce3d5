"""The WSGI application: Django, with OA callbacks answered by the lean path in front of it
(`kjda.connectors.fastpath`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
django_application = get_wsgi_application()

from kjda.connectors.fastpath import CallbackApp  # noqa: E402 - needs the apps loaded

application = CallbackApp(django_application)
