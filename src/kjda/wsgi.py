"""The WSGI application: Django, behind two small layers.

- A request without `Content-Length` (chunked transfer encoding) gets its body buffered and its
  length set: Django reads `CONTENT_LENGTH` only, so it would otherwise see an empty body (an OA
  callback refused for a missing signature, an upload without its file).
- OA callbacks take the lean path in front of Django (`kjda.connectors.fastpath`) when
  `KJDA_CALLBACK_FASTPATH` is on (the default); off, Django's view answers them. Both commit
  through the same service (`kjda.connectors.services.inbox_events_commit`).
"""

import os
import shutil
import tempfile

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - configured by get_wsgi_application

from kjda.connectors.fastpath import CallbackApp  # noqa: E402 - needs the apps loaded


class BufferedBody:
    """Give a request that arrived without `Content-Length` (the server decoded its chunked
    body) a seekable body and its length. Bodies up to FILE_UPLOAD_MAX_MEMORY_SIZE stay in
    memory, larger ones are spooled to the upload temporary folder (the orphan sweep's)."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):
        if environ.get("CONTENT_LENGTH") or "chunked" not in environ.get(
                "HTTP_TRANSFER_ENCODING", "").lower():
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed with the request
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR)
        shutil.copyfileobj(environ["wsgi.input"], body, 64 * 1024)
        environ["CONTENT_LENGTH"] = str(body.tell())
        body.seek(0)
        environ["wsgi.input"] = body
        try:
            return self.app(environ, start_response)
        finally:
            # Django has read what it needs by now (it buffers or spools uploads itself).
            body.close()


application = BufferedBody(CallbackApp(django_application) if settings.KJDA_CALLBACK_FASTPATH
                           else django_application)
