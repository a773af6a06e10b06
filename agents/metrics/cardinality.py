"""Which studies and breakdown groups one worker admits: the hard bound on its series.

Configured studies are always admitted; others first come, first served, up to
``max_studies``, or never with ``admit_only_configured_studies``. With the breakdown
on, each study admits up to ``max_groups_per_study`` distinct (site, country, vendor)
combinations. The router dead-letters events beyond the caps (so the engine never holds them either) and
counts them in ``edc_events_over_cardinality_total``; the exporter exports only
admitted keys, admitting what a shard restored from another worker brings while
there is room. Either way one worker never exports more than the formula of
docs/metrics.md ("Labels and series count").
"""

from __future__ import annotations

from collections.abc import Iterable

GroupKey = tuple[str, ...]


class CardinalityGate:
    def __init__(
        self,
        configured: Iterable[str],
        max_studies: int,
        max_groups_per_study: int,
        only_configured: bool = False,
    ) -> None:
        self._groups: dict[str, set[GroupKey]] = {study: set() for study in configured}
        # Configured studies never count against the cap on admitted ones. With
        # only_configured, no other study is ever admitted: junk study ids cannot take
        # the places of real ones (nor, restored from a checkpoint, after a restart).
        self._only_configured = only_configured
        self._max_studies = (
            len(self._groups) if only_configured else max(max_studies, len(self._groups))
        )
        self._max_groups = max_groups_per_study
        self.over = 0  # events refused so far (the router's count)

    def admits(self, study_id: str, group: GroupKey | None) -> bool:
        """Admit (remembering) the study and group if there is room; ``None``: no group."""
        groups = self._groups.get(study_id)
        if groups is None:
            if len(self._groups) >= self._max_studies:
                return False
            groups = self._groups[study_id] = set()
        if group is None or group in groups:
            return True
        if len(groups) >= self._max_groups:
            return False
        groups.add(group)
        return True

    def refuse_reason(self, study_id: str) -> str:
        """Why an event is refused; names the cap, never the value."""
        if study_id not in self._groups:
            if self._only_configured:
                return "study_id: not a configured study (admit_only_configured_studies is on)"
            return f"study_id: over max_studies ({self._max_studies} studies admitted)"
        return (
            f"breakdown group: over max_groups_per_study ({self._max_groups} groups admitted "
            "for this study)"
        )
