"""kommunal-kit: Copier templates and the ``kit`` CLI for Bavarian municipal online services.

The public API is small on purpose; everything in ``kitcli._*`` is internal.
"""

from __future__ import annotations

from ._errors import EXIT_CONFLICTS, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, KitError, UserError
from ._version import __version__

__all__ = [
    "EXIT_CONFLICTS",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "KitError",
    "UserError",
    "__version__",
]
