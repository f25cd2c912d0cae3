"""Upload handling: stream archives to RAPPORT_UPLOAD_DIR, refuse oversize files while they arrive.

Django puts no cap on an uploaded file's size, so this handler counts bytes as
they stream in and stops the upload past RAPPORT_UPLOAD_MAX_BYTES; Django then
calls ``upload_interrupted`` and the partial temporary file is removed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class CappedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.declared_too_large = False
        self.limit = settings.RAPPORT_UPLOAD_MAX_BYTES

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # The request says how big it is: refuse before a byte is written.
        # (StopUpload is only honoured once parsing has begun, in new_file.)
        self.declared_too_large = bool(content_length and content_length > self.limit + 64 * 1024)
        return None

    def new_file(self, *args, **kwargs):
        if self.declared_too_large:
            self._refuse()
        return super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self):
        if self.request is not None:
            self.request.upload_refused = (
                f"The file is larger than this server accepts ({_size(self.limit)}). "
                "Nothing was stored."
            )
        # connection_reset=False: read and discard the rest of the body, so the
        # browser gets our answer instead of a reset connection.
        raise StopUpload(connection_reset=False)


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
