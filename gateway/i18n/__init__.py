"""Languages: the gettext catalogues (zh-CN, en, zh-TW) shared by Python and the browser,
Accept-Language negotiation, dates and times in a language and a zone. See catalog.py."""

from gateway.i18n.catalog import CUSTOMER_PREFIX, DEFAULT_LANGUAGE, LANGUAGES, translate
from gateway.i18n.formatting import format_datetime, quote_attribution, zone
from gateway.i18n.negotiate import negotiate, normalize, pick

__all__ = [
    "CUSTOMER_PREFIX",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "format_datetime",
    "negotiate",
    "normalize",
    "pick",
    "quote_attribution",
    "translate",
    "zone",
]
