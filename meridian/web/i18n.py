"""The pages' names for the one message catalog (``meridian.core.i18n``), so templates and
routers keep importing their ``_`` from the web package."""

from meridian.core.i18n import (
    DEFAULT_LOCALE,
    LOCALES,
    N_,
    Text,
    Translator,
    catalog,
    localized,
    negotiate,
    supported,
)

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "N_",
    "Text",
    "Translator",
    "catalog",
    "localized",
    "negotiate",
    "supported",
]
