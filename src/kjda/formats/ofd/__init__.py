"""OFD (GB/T 33190-2016): safe package reading, documents, rendering, signature verification."""

from kjda.formats.ofd.document import Attachment, DocInfo, OFDDocument, OFDPage, SignatureRef
from kjda.formats.ofd.package import DEFAULT_LIMITS, OFDError, OFDLimits, OFDPackage, parse_xml

__all__ = ["DEFAULT_LIMITS", "Attachment", "DocInfo", "OFDDocument", "OFDError", "OFDLimits", "OFDPackage",
           "OFDPage", "SignatureRef", "parse_xml"]
