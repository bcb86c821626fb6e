"""The intake API: alerts from other systems over HTTP, cases read back in scope, and an
Open311 GeoReport v2 face for existing clients. Serve it with ``python -m geo api``.

Sources post with their token (``Authorization: Bearer …``); users read with theirs and see
only the cases of their scope (`geo.access`). Coordinates are WGS84 degrees unless the
source is registered with another CRS (for example ``gcj02``).
"""

from geo.api.app import create_app

__all__ = ["create_app"]
