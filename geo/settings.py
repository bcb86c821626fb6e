"""One typed settings object, read from environment variables at the edges only."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Runtime settings.

    Attributes
    ----------
    database_url
        SQLAlchemy URL of the store (``GEO_DATABASE_URL``); SQLite file under data/ by default.
    layers_path
        Folder or GeoPackage of the layer set imported by ``init`` (``GEO_LAYERS``).
    catalog_path
        Folder holding matters.csv, bodies.csv, empowerment.csv and optionally
        inspection_intervals.csv (``GEO_CATALOG``).
    border_buffer_m
        Distance in metres (the district's metric CRS, `geo.crs.metric_crs_of` the
        townships) to another township that flags ``near_border``.
    snap_tolerance_m
        Distance in metres outside every township within which a point snaps to the nearest.
    site_match_m
        Largest distance in metres from a site point for the site to be matched.
    grid_cell_m
        Edge of a routing lookup-grid cell in metres.
    timezone
        Local time zone of the district (``GEO_TIMEZONE``): times without an offset are
        local, and the empowerment rule uses the local date.
    tiles
        Map background (``GEO_TILES``): ``none`` (layers on a plain background, the default:
        nothing leaves the machine), ``osm``, ``tianditu`` (key in ``GEO_TIANDITU_KEY``) or
        a URL template such as an intranet tile server's ``https://tiles.local/{z}/{x}/{y}.png``
        (credit in ``GEO_TILES_ATTRIBUTION``).
    refresh_s
        Seconds between refreshes of the live case layer (``GEO_REFRESH_S``).
    cache_path
        Folder of the routing cache (``GEO_CACHE``): a router built for a layer set is kept
        there, keyed by the layers' content, so the next process does not build it again.
    earliest_alert
        The earliest incident time an alert may report (``GEO_EARLIEST_ALERT``, an ISO
        date, local time), so that no time from a broken clock or a typo is taken.
    evidence_path
        Folder of the evidence files (``GEO_EVIDENCE_DIR``): photos and documents attached
        to cases and findings, each kept once under its SHA-256 (`geo.store.evidence`).
    evidence_max_mb
        Largest evidence file accepted, in megabytes of 2**20 bytes
        (``GEO_EVIDENCE_MAX_MB``).
    referral_ack_days
        Working days (Monday to Friday) a body has to acknowledge (签收) a case referred to
        it (``GEO_REFERRAL_ACK_DAYS``), before the referral is escalated.
    """

    database_url: str = field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'data' / 'onemap.sqlite'}"
    )
    layers_path: Path = PROJECT_ROOT / "layers"
    catalog_path: Path = PROJECT_ROOT / "data"
    border_buffer_m: float = 50.0
    snap_tolerance_m: float = 200.0
    site_match_m: float = 100.0
    grid_cell_m: float = 25.0
    timezone: str = "Asia/Shanghai"
    tiles: str = "none"
    tianditu_key: str = ""
    tiles_attribution: str = ""
    refresh_s: float = 10.0
    earliest_alert: dt.date = dt.date(2000, 1, 1)
    cache_path: Path = PROJECT_ROOT / "data" / "cache"
    evidence_path: Path = PROJECT_ROOT / "data" / "evidence"
    evidence_max_mb: float = 20.0
    referral_ack_days: int = 3

    def __post_init__(self) -> None:
        for name in ("border_buffer_m", "snap_tolerance_m", "site_match_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"GEO_{name.upper()} must be a distance of 0 or more metres")
        for name in ("grid_cell_m", "refresh_s", "evidence_max_mb", "referral_ack_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GEO_{name.upper()} must be positive")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``GEO_*`` environment variables, defaults elsewhere."""
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            database_url=env.get("GEO_DATABASE_URL", base.database_url),
            layers_path=Path(env.get("GEO_LAYERS", base.layers_path)),
            catalog_path=Path(env.get("GEO_CATALOG", base.catalog_path)),
            border_buffer_m=float(env.get("GEO_BORDER_BUFFER_M", base.border_buffer_m)),
            snap_tolerance_m=float(env.get("GEO_SNAP_TOLERANCE_M", base.snap_tolerance_m)),
            site_match_m=float(env.get("GEO_SITE_MATCH_M", base.site_match_m)),
            grid_cell_m=float(env.get("GEO_GRID_CELL_M", base.grid_cell_m)),
            timezone=env.get("GEO_TIMEZONE", base.timezone),
            tiles=env.get("GEO_TILES", base.tiles),
            tianditu_key=env.get("GEO_TIANDITU_KEY", base.tianditu_key),
            tiles_attribution=env.get("GEO_TILES_ATTRIBUTION", base.tiles_attribution),
            refresh_s=float(env.get("GEO_REFRESH_S", base.refresh_s)),
            earliest_alert=_date(env, "GEO_EARLIEST_ALERT", base.earliest_alert),
            cache_path=Path(env.get("GEO_CACHE", base.cache_path)),
            evidence_path=Path(env.get("GEO_EVIDENCE_DIR", base.evidence_path)),
            evidence_max_mb=float(env.get("GEO_EVIDENCE_MAX_MB", base.evidence_max_mb)),
            referral_ack_days=int(env.get("GEO_REFERRAL_ACK_DAYS", base.referral_ack_days)),
        )

    @property
    def evidence_max_bytes(self) -> int:
        """`evidence_max_mb` in bytes."""
        return int(self.evidence_max_mb * 1024 * 1024)

    @property
    def earliest(self) -> dt.datetime:
        """`earliest_alert` at local midnight, as naive UTC."""
        from zoneinfo import ZoneInfo

        local = dt.datetime.combine(self.earliest_alert, dt.time(), ZoneInfo(self.timezone))
        return local.astimezone(dt.UTC).replace(tzinfo=None)


def _date(env, name: str, default: dt.date) -> dt.date:
    text = env.get(name)
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not {text!r}") from None
