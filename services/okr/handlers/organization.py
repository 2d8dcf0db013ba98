"""Organization settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from okr.commands import ConfigureOrg
from okr.domain.key_result import DEFAULT_CADENCE_DAYS
from okr.domain.organization import Organization
from okr.handlers import Outcome, handles

if TYPE_CHECKING:
    from okr.application import OkrApplication


@handles(ConfigureOrg)
def configure_org(app: OkrApplication, c: ConfigureOrg) -> Outcome:
    org = app.organization()
    if org is not None:
        org.reconfigure(c.strict_policies, c.cadence_days, c.check_ins_open_to_all)
    else:
        strict, cadence, open_to_all = Organization.check(
            False if c.strict_policies is None else c.strict_policies,
            DEFAULT_CADENCE_DAYS if c.cadence_days is None else c.cadence_days,
            False if c.check_ins_open_to_all is None else c.check_ins_open_to_all,
        )
        org = Organization(strict_policies=strict, cadence_days=cadence, check_ins_open_to_all=open_to_all)
    return Outcome([org], org.id)
