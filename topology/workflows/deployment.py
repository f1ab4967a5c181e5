"""What every workflow service of one deployment shares: the profiles it knows, the one it
runs under, the working-day calendar and the injected clock."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.profiles import Profile, ProfileSet
from exchange.workdays import WorkCalendar
from topology.workflows.clock import Clock


@dataclass(frozen=True)
class Deployment:
    profiles: ProfileSet
    profile_id: str
    calendar: WorkCalendar
    clock: Clock

    @property
    def profile(self) -> Profile:
        """The deployment's profile: new cases are counted under it (a case keeps the
        profile it was opened under)."""
        return self.profiles.get(self.profile_id)
