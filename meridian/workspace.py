"""The workspace every entry point shares: engine, settings, plugins, clock.

Apart from the composition root (``meridian.app``) so that processes without the web app —
``meridian worker``, the other commands — build it without importing the pages and the API
(an import-linter contract in ``pyproject.toml`` keeps it so).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from meridian.access.passwords import Passwords
from meridian.core.clock import OPTION as CLOCK
from meridian.core.clock import SYSTEM_CLOCK, Clock
from meridian.dataio import plugin as dataio_plugin
from meridian.db import statistics
from meridian.db.engine import TOKENS_AT_BEGIN, make_engine, transaction
from meridian.db.migrate import upgrade_database
from meridian.documents import plugin as documents_plugin
from meridian.events.audit_keys import load_audit_key, open_audit_trail
from meridian.flows.approvals import plugin as approvals_plugin
from meridian.flows.approvals import timeouts as approval_timeouts
from meridian.flows.stages import plugin as stages_plugin
from meridian.flows.stages import sla as stages_sla
from meridian.flows.tasks import overdue as task_overdue
from meridian.flows.tasks import plugin as tasks_plugin
from meridian.http.deps import Workspace
from meridian.integrations import plugin as integrations_plugin
from meridian.jobs.schedules import Recurring, ensure_schedules
from meridian.plugins.manager import Plugins, attach, build_plugins
from meridian.reports import plugin as reports_plugin
from meridian.rules import engine as rules
from meridian.rules import plugin as rules_plugin
from meridian.schema import plugin as schema_plugin
from meridian.settings import Settings

DEFAULT_PLUGINS: tuple[object, ...] = (
    schema_plugin,
    rules_plugin,
    integrations_plugin,
    documents_plugin,
    dataio_plugin,
    approvals_plugin,
    reports_plugin,
    stages_plugin,
    tasks_plugin,
)
"""Meridian's own engines, registered through the same hooks as any installed plugin."""


def create_workspace(
    settings: Settings,
    *,
    engine: Engine | None = None,
    plugins: Plugins | None = None,
    clock: Clock | None = None,
    rekey_audit_trail: bool = False,
) -> Workspace:
    """The engine, settings and plugins every entry point shares; migrates the system tables
    and opens the audit trail with its key (``rekey_audit_trail``: see ``meridian audit
    rekey``).

    The plugins are Meridian's own and the installed ones ``settings.load_plugins`` names;
    the engine is given them and the ``clock`` (the system's unless a test gives its own), so
    every connection it opens finds the same registry and reads the same time.
    """
    given = engine
    engine = engine or make_engine(settings.resolved_database_url)
    plugins = plugins or build_plugins(DEFAULT_PLUGINS, installed=settings.plugin_names)
    clock = clock or SYSTEM_CLOCK
    attach(engine, plugins)
    engine.update_execution_options(**{CLOCK: clock})
    try:
        upgrade_database(engine)
        key = load_audit_key(
            configured=settings.audit_key.get_secret_value(), data_dir=settings.data_dir
        )
        open_audit_trail(engine, key, rekey=rekey_audit_trail)
        engine.update_execution_options(**{TOKENS_AT_BEGIN: True})  # migrated: the table is there
    except BaseException:
        if given is None:  # a refused start leaves no connection open behind it
            engine.dispose()
        raise
    tz = ZoneInfo(settings.time_zone)
    with transaction(engine) as conn:
        ensure_schedules(
            conn,
            [
                Recurring(rules.SCAN, "* * * * *", rules.SCAN, {}),
                Recurring(approval_timeouts.SCAN, "* * * * *", approval_timeouts.SCAN, {}),
                Recurring(stages_sla.SCAN, "* * * * *", stages_sla.SCAN, {}),
                Recurring(statistics.REFRESH, statistics.REFRESH_CRON, statistics.REFRESH, {}),
                Recurring(
                    task_overdue.OVERDUE_SCAN,
                    task_overdue.SCAN_CRON,
                    task_overdue.OVERDUE_SCAN,
                    {},
                ),
            ],
            tz,
        )
    passwords = Passwords(hashing=settings.password_hashing)
    return Workspace(
        settings=settings,
        engine=engine,
        tz=tz,
        passwords=passwords,
        plugins=plugins,
        clock=clock,
    )
