"""System tables: metadata, sequences, users, tokens, history, files and the outbox.

Alembic migrates these; user form tables (``data_*``) are owned by ``meridian.schema.apply``.
"""

from __future__ import annotations

import sqlalchemy as sa

from meridian.db.types import BigId, JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

apps = sa.Table(
    "meta_app",
    metadata,
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

forms = sa.Table(
    "meta_form",
    metadata,
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("app_key", sa.String(63), sa.ForeignKey("meta_app.key"), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    # The whole frozen form definition (fields included); see meridian.schema.model.Form.
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

schema_changes = sa.Table(
    "meta_schema_change",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("operation", sa.String(40), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("before", JSONType, nullable=True),
    sa.Column("after", JSONType, nullable=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

sequences = sa.Table(
    "sys_sequence",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

revisions = sa.Table(
    "sys_revision",
    metadata,
    # A random token per subject (e.g. "rules"), replaced in every transaction that changes the
    # subject: a process may keep what it derived from the subject while the token is the same.
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("token", sa.String(32), nullable=False),
)

users = sa.Table(
    "sys_user",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    # The language the user chose; NULL: none, each request's Accept-Language decides.
    sa.Column("locale", sa.String(10), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The main department; others are in sys_user_department.
    sa.Column("department_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("manager_id", sa.BigInteger, nullable=True),
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
)

departments = sa.Table(
    "sys_department",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("parent_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("manager_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

user_departments = sa.Table(
    "sys_user_department",
    metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("department_id", sa.BigInteger, primary_key=True, index=True),
)

roles = sa.Table(
    "sys_role",
    metadata,
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("preset", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

user_roles = sa.Table(
    "sys_user_role",
    metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("role_key", sa.String(63), primary_key=True, index=True),
)

role_forms = sa.Table(
    "sys_role_form",
    metadata,
    sa.Column("role_key", sa.String(63), primary_key=True),
    sa.Column("form_key", sa.String(63), primary_key=True),
    # The permission document as PUT /api/v1/roles/{role}/forms/{form} took it, normalised.
    sa.Column("rules", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

record_shares = sa.Table(
    "sys_record_share",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("department_id", sa.BigInteger, nullable=True),
    sa.Column("level", sa.String(10), nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_record_share_record", "form_key", "record_id"),
    sa.Index("ix_sys_record_share_user", "form_key", "user_id"),
)

sessions = sa.Table(
    "sys_session",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(400), nullable=False, server_default=""),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

login_throttle = sa.Table(
    "sys_login_throttle",
    metadata,
    # ("account", email) or ("ip", address)
    sa.Column("scope", sa.String(10), primary_key=True),
    sa.Column("key", sa.String(254), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

audit_log = sa.Table(
    "sys_audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("object_type", sa.String(63), nullable=False, server_default=""),
    sa.Column("object_id", sa.String(200), nullable=False, server_default=""),
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_sys_audit_actor", "actor_id", "id"),
    sa.Index("ix_sys_audit_object", "object_type", "object_id", "id"),
)

audit_head = sa.Table(
    "sys_audit_head",
    metadata,
    # One row: the newest entry, so deleting the last entries is detected too, and the row
    # lock taken to update it keeps the chain from forking under concurrent writers.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    # Which secret key the chain's HMACs are made with (a digest of it, never the key): a
    # process holding another key refuses to start rather than fork the chain. NULL until the
    # chain is first keyed (chains begun before keys existed).
    sa.Column("key_id", sa.String(16), nullable=True),
)

api_tokens = sa.Table(
    "sys_api_token",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("sys_user.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    # "read" or "write"; limited to one app or one form when either is set.
    sa.Column("scope", sa.String(10), nullable=False, server_default="write"),
    sa.Column("app_key", sa.String(63), nullable=True),
    sa.Column("form_key", sa.String(63), nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

record_history = sa.Table(
    "sys_record_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    # {field_key: [old, new]} in API representation.
    sa.Column("changes", JSONType, nullable=False),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_record_history_record", "form_key", "record_id", "id"),
)

files = sa.Table(
    "sys_file",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # The file's only name outside the database: 128 random bits as 32 hex digits. Attachment
    # fields hold tokens; the sequential id never leaves the server.
    sa.Column("token", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(127), nullable=False),
    # What the bytes are (meridian.records.sniff); NULL for files stored before sniffing.
    sa.Column("kind", sa.String(20), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_path", sa.String(400), nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "sys_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("dispatched_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_outbox_pending", "dispatched_at", "id"),
)

jobs = sa.Table(
    "sys_job",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    # ready → running → done, or back to ready with a later run_at, or dead after max_attempts.
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("run_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("worker", sa.String(100), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # Enqueuing the same key twice makes one job (e.g. one reminder per record and date).
    sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_job_due", "state", "run_at"),
)

schedules = sa.Table(
    "sys_schedule",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("cron", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("next_run_at", UTCDateTime, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
)

webhooks = sa.Table(
    "sys_webhook",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False, index=True),
    # Event types, e.g. ["RecordCreated", "RecordUpdated"].
    sa.Column("events", JSONType, nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "sys_webhook_delivery",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.BigInteger, nullable=False),
    sa.Column("job_id", sa.BigInteger, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_webhook_delivery_webhook", "webhook_id", "id"),
)

rules = sa.Table(
    "sys_rule",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False, index=True),
    sa.Column("label", sa.String(200), nullable=False),
    # {"type": "record_created" | "record_updated" | "record_deleted" | "field_changed" |
    #  "date_relative" | "no_activity", ...}; see meridian.rules.definitions.
    sa.Column("trigger", JSONType, nullable=False),
    sa.Column("condition", sa.Text, nullable=False, server_default=""),
    sa.Column("actions", JSONType, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Time-based triggers: everything due up to this moment has been fired.
    sa.Column("scanned_until", UTCDateTime, nullable=True),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

rule_fires = sa.Table(
    "sys_rule_fire",
    metadata,
    # One row per (rule, record, date value) a time-based rule fired for: never twice.
    sa.Column("rule_id", sa.BigInteger, primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("fire_key", sa.String(64), primary_key=True),
    sa.Column("fired_at", UTCDateTime, nullable=False),
)

rule_runs = sa.Table(
    "sys_rule_run",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.BigInteger, nullable=False),
    # The rule's form when it ran: a record's runs stay listed after the rule is deleted.
    sa.Column("form_key", sa.String(63), nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("actions", JSONType, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_rule_run_rule", "rule_id", "id"),
    sa.Index("ix_sys_rule_run_record", "record_id", "id"),
)

notifications = sa.Table(
    "sys_notification",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("form_key", sa.String(63), nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("read_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_notification_inbox", "user_id", "read_at", "id"),
)

notify_preferences = sa.Table(
    "sys_notify_preference",
    metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("email", sa.Boolean, nullable=False, server_default=sa.true()),
)

bot_channels = sa.Table(
    "sys_bot_channel",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # "wecom", "dingtalk" or "feishu": a group robot of that platform.
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("webhook_url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

inbound_hooks = sa.Table(
    "sys_inbound_hook",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("form_key", sa.String(63), nullable=False),
    # SHA-256 of the secret token in the hook's URL.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # {"fields": {field key: "dotted.path"}, "match": {"field": key, "path": "dotted.path"}}
    sa.Column("mapping", JSONType, nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

saved_views = sa.Table(
    "sys_view",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=False),
    # Shared views are listed for everyone who may read the form; each still sees only the
    # rows and fields their own rights allow.
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    # {"kind": "grid" | "kanban" | "calendar", "columns", "sort", "filter", "q", "by", "sum"}
    sa.Column("settings", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_view_form", "form_key", "owner_id"),
)

document_templates = sa.Table(
    "sys_document_template",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("key", sa.String(63), nullable=False),
    # Every save adds a version; the highest is the template in use, documents name theirs.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    # "html" (body is sandboxed Jinja rendered to PDF) or "docx" (source_file_id is the .docx).
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("source_file_id", sa.BigInteger, nullable=True),
    # {"size": "A4", "orientation": "portrait", "margins_mm": [t, r, b, l], "header": "", ...}
    sa.Column("page", JSONType, nullable=False),
    # A condition in the expression language the record must meet first ("" for none).
    sa.Column("condition", sa.Text, nullable=False, server_default=""),
    # An auto-number pattern such as "BJ-{YYYY}-{0000}" for the documents' numbers.
    sa.Column("number_pattern", sa.String(64), nullable=False),
    sa.Column("sign", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("form_key", "key", "version"),
)

documents = sa.Table(
    "sys_document",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("template_key", sa.String(63), nullable=False),
    sa.Column("template_version", sa.Integer, nullable=False),
    # The number is taken once per record and template; regenerating adds a version.
    sa.Column("number", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # pending (numbered, being rendered) → done (file_id set), or failed (the record's next
    # generation takes the row over, number and version included); see documents.issuing.
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("file_id", sa.BigInteger, nullable=True),
    sa.Column("signing_key_id", sa.BigInteger, nullable=True),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # {form_key: [field keys]} hidden from the generator then: only a reader hiding no more
    # sees the document (see documents.visibility); NULL (older rows): nothing was hidden.
    sa.Column("hidden_fields", JSONType, nullable=True),
    # A Word document's PDF, converted by LibreOffice as a job (documents.word_pdf):
    # NULL (never asked) → queued → done (pdf_file_id set) or failed (pdf_error says why).
    sa.Column("pdf_state", sa.String(10), nullable=True),
    sa.Column("pdf_file_id", sa.BigInteger, nullable=True),
    sa.Column("pdf_error", sa.Text, nullable=True),
    sa.UniqueConstraint("form_key", "record_id", "template_key", "version"),
    sa.Index("ix_sys_document_record", "form_key", "record_id"),
)

document_assets = sa.Table(
    "sys_document_asset",
    metadata,
    # "logo" or "seal": images templates place, kept in the file store.
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("file_id", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

signing_keys = sa.Table(
    "sys_signing_key",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(400), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("not_after", UTCDateTime, nullable=False),
    # The key and certificate chain as PKCS#12, encrypted with the workspace's secret key.
    sa.Column("sealed", sa.Text, nullable=False),
    # The newest active key signs; replacing a certificate retires the old one.
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

document_batches = sa.Table(
    "sys_document_batch",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("template_key", sa.String(63), nullable=False),
    sa.Column("record_ids", JSONType, nullable=False),
    # "pdf" (one file of every document's pages) or "zip" (one file per document).
    sa.Column("output", sa.String(10), nullable=False),
    # queued → running → done | failed
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("file_id", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
)

work_calendar = sa.Table(
    "sys_work_calendar",
    metadata,
    # The company's working week; one row ("default") today, keyed so more can follow.
    sa.Column("key", sa.String(40), primary_key=True),
    # An IANA name: work hours are wall-clock times there.
    sa.Column("time_zone", sa.String(64), nullable=False),
    # ISO weekdays that are work days unless a calendar day says otherwise, e.g. [1, 2, 3, 4, 5].
    sa.Column("work_days", JSONType, nullable=False),
    # Work periods of a work day as [["09:00", "12:00"], ["13:30", "18:00"]], sorted, disjoint.
    sa.Column("work_hours", JSONType, nullable=False),
    sa.Column("updated_by", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
)

calendar_days = sa.Table(
    "sys_calendar_day",
    metadata,
    # A date that breaks the working week: a public holiday ("holiday") or a 调休 make-up work
    # day ("workday"); seeded from chinese-calendar ("package") or set by an admin ("admin").
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("updated_by", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
)

tasks = sa.Table(
    "sys_task",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("assignee_id", sa.BigInteger, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    # open → done | cancelled, and back to open when reopened.
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("closed_by", sa.BigInteger, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    # The record the task is about, if any.
    sa.Column("form_key", sa.String(63), nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    # Who made it: "person", "stage" (an SOP item on stage entry) or "rule".
    sa.Column("source", sa.String(10), nullable=False),
    # The origin within the source, e.g. "rule:12" or "stage:7:sop:3".
    sa.Column("source_ref", sa.String(200), nullable=True),
    # Creating with a key that exists returns that task: a rule or stage run twice makes one.
    sa.Column("source_key", sa.String(200), nullable=True, unique=True),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Set when the assignee was told the task is overdue (once per due time: moving the due
    # time clears it).
    sa.Column("overdue_notified_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_task_assignee", "assignee_id", "state", "due_at"),
    sa.Index("ix_sys_task_record", "form_key", "record_id"),
    sa.Index("ix_sys_task_overdue", "state", "overdue_notified_at", "due_at"),
)


approval_flows = sa.Table(
    "sys_approval_flow",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(63), nullable=False),
    # Every save adds a version; the highest is the one new approvals start with, and a
    # running approval keeps the version it started with.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    # {"nodes": [...]}: the node tree (see meridian.flows.approvals.definitions).
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("key", "version"),
    sa.Index("ix_sys_approval_flow_form", "form_key", "key"),
)

approvals = sa.Table(
    "sys_approval",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("flow_key", sa.String(63), nullable=False),
    sa.Column("flow_version", sa.Integer, nullable=False),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("submitter_id", sa.BigInteger, nullable=True),
    # running → approved | rejected | withdrawn (finished), or returned (to the submitter,
    # who resubmits or withdraws). While running the record is locked.
    sa.Column("state", sa.String(12), nullable=False),
    # Each (re)submission starts a round; nodes and tasks belong to one.
    sa.Column("round", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_approval_record", "form_key", "record_id", "state"),
    sa.Index("ix_sys_approval_submitter", "submitter_id", "id"),
)

approval_nodes = sa.Table(
    "sys_approval_node",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.BigInteger, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    # The node's id in the flow's tree; a parallel branch's end is "<parallel id>#<index>".
    sa.Column("node_id", sa.String(63), nullable=False),
    sa.Column("mode", sa.String(12), nullable=False),
    # active → approved | rejected | cancelled; "done" for a branch's end.
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_approval_node_approval", "approval_id", "state"),
)

approval_tasks = sa.Table(
    "sys_approval_task",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.BigInteger, nullable=False),
    sa.Column("node_row_id", sa.BigInteger, nullable=True),
    # "approve" (an approver's task) or "cc" (抄送: to read, nothing to do).
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("assignee_id", sa.BigInteger, nullable=False),
    # Set when the task went to a delegate of the user the flow named.
    sa.Column("delegated_from", sa.BigInteger, nullable=True),
    # pending → approved | rejected | returned | transferred | cancelled; waiting (behind
    # waits_for: sequential approvers, 加签) → pending; cc.
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("waits_for", sa.BigInteger, nullable=True),
    sa.Column("added_by", sa.BigInteger, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("acted_at", UTCDateTime, nullable=True),
    # Timeouts in business time: when it falls due, and whether its timeout was handled.
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("timed_out_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_approval_task_inbox", "assignee_id", "state", "id"),
    sa.Index("ix_sys_approval_task_approval", "approval_id", "state"),
    sa.Index("ix_sys_approval_task_due", "state", "due_at"),
)

approval_acts = sa.Table(
    "sys_approval_act",
    metadata,
    # The trail: every submission, decision, transfer, 加签, comment, timeout, in order.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.BigInteger, nullable=False),
    sa.Column("task_id", sa.BigInteger, nullable=True),
    sa.Column("node_id", sa.String(63), nullable=True),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    # {"attachments": [file ids], "to": user id, "values": {...}, ...}
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_approval_act_approval", "approval_id", "id"),
)

approval_links = sa.Table(
    "sys_approval_link",
    metadata,
    # One approver's way to decide one task from a card or an e-mail without signing in. Only
    # the SHA-256 of the link's random token is kept: the token itself is in the message alone.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("task_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
)

approval_delegations = sa.Table(
    "sys_approval_delegation",
    metadata,
    # While away, a user's new approval tasks go to their delegate.
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("delegate_id", sa.BigInteger, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
)

reports = sa.Table(
    "sys_report",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("app_key", sa.String(63), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    # The definition as ``meridian.reports.model.ReportDefinition`` checked it: the form,
    # dimensions, measures, formulas, filter, sort, top N and the chart.
    sa.Column("definition", JSONType, nullable=False),
    # Role keys the report is shared with; its owner, builders and administrators always see it.
    sa.Column("roles", JSONType, nullable=False),
    # A random token replaced by every save: a save naming an older token is refused (409).
    sa.Column("revision", sa.String(32), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_report_app", "app_key"),
)

dashboards = sa.Table(
    "sys_dashboard",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("app_key", sa.String(63), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    # {"cards": [{"report_id", "x", "y", "w", "h", "title"}], "filters": [...], "refresh": s}
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("roles", JSONType, nullable=False),
    # Whose home it is: "" for nobody, "*" for every reader of the app, or a role key.
    sa.Column("home_for", sa.String(63), nullable=False, server_default=""),
    sa.Column("revision", sa.String(32), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_dashboard_app", "app_key"),
)

# ---- Lifecycle stages (meridian.flows.stages) -------------------------------------------------
# A pipeline is an ordered list of stages of one select field of one form; a form may have
# several, chosen per record by another field's value (business line IDC / CDN / 专线).
pipelines = sa.Table(
    "flow_pipeline",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("key", sa.String(63), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("label_en", sa.String(200), nullable=False, server_default=""),
    # The select field whose option values are this pipeline's stage keys.
    sa.Column("stage_field", sa.String(63), nullable=False),
    # Records whose selector_field holds selector_value follow this pipeline; NULL: the default.
    sa.Column("selector_field", sa.String(63), nullable=True),
    sa.Column("selector_value", sa.String(200), nullable=True),
    sa.Column("position", sa.Integer, nullable=False),
    # Roles whose members may override a refusing gate with a reason (administrators always may).
    sa.Column("override_roles", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("form_key", "key"),
)

stages = sa.Table(
    "flow_stage",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("pipeline_id", sa.BigInteger, sa.ForeignKey("flow_pipeline.id"), nullable=False),
    sa.Column("key", sa.String(63), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("label_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("position", sa.Integer, nullable=False),
    # open | won | lost
    sa.Column("category", sa.String(8), nullable=False),
    sa.Column("probability", sa.Integer, nullable=False, server_default="0"),
    # Stage keys a record may move forward to from here; NULL: the next open stage, and any
    # won or lost stage (moving back to any earlier stage is always allowed, with a reason).
    sa.Column("forward_to", JSONType, nullable=True),
    # The time limit of one visit: amount and unit (hours | days), in calendar or business time.
    sa.Column("sla_amount", sa.Integer, nullable=True),
    sa.Column("sla_unit", sa.String(8), nullable=False, server_default="hours"),
    sa.Column("sla_business", sa.Boolean, nullable=False, server_default=sa.false()),
    # Warn at this percentage of the limit (NULL: no warning).
    sa.Column("sla_warn_percent", sa.Integer, nullable=True),
    sa.UniqueConstraint("pipeline_id", "key"),
)

stage_criteria = sa.Table(
    "flow_criterion",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "stage_id", sa.BigInteger, sa.ForeignKey("flow_stage.id"), nullable=False, index=True
    ),
    # entry (must hold to enter the stage) | exit (must hold to leave it forward)
    sa.Column("phase", sa.String(5), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    # A registered criterion kind: required_field, condition, related_record, checklist …
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("config", JSONType, nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("label_en", sa.String(200), nullable=False, server_default=""),
)

checklist_ticks = sa.Table(
    "flow_checklist_tick",
    metadata,
    sa.Column("form_key", sa.String(63), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("item", sa.String(63), primary_key=True),
    sa.Column("ticked_by", sa.BigInteger, nullable=True),
    sa.Column("ticked_at", UTCDateTime, nullable=False),
)

# One row per visit of a record to a stage: the stage history reports read (funnel, dwell
# time, cycle time, pipeline as of a date). A record has at most one open visit (left_at
# NULL); its visits never overlap.
stage_visits = sa.Table(
    "flow_stage_visit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("pipeline_key", sa.String(63), nullable=False),
    sa.Column("stage_key", sa.String(63), nullable=False),
    # The stage's category when entered: open | won | lost.
    sa.Column("category", sa.String(8), nullable=False),
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("entered_by", sa.BigInteger, nullable=True),
    sa.Column("left_at", UTCDateTime, nullable=True),
    sa.Column("left_by", sa.BigInteger, nullable=True),
    # How the record came in: start | forward | back | reopen (from won/lost to open).
    sa.Column("move", sa.String(8), nullable=False),
    # Why it moved back (a back-move needs a reason).
    sa.Column("reason", sa.Text, nullable=True),
    # Who entered past unmet gate criteria, why, and which criteria (kind and label).
    sa.Column("override_by", sa.BigInteger, nullable=True),
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("overridden", JSONType, nullable=True),
    # The SLA of this visit: when it warns and when it is breached; when each fired.
    sa.Column("warn_at", UTCDateTime, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("warned_at", UTCDateTime, nullable=True),
    sa.Column("breached_at", UTCDateTime, nullable=True),
    # Whether the record went on from this visit: it entered, at or after this visit, a stage
    # of the same pipeline further on that is not lost. Kept by the stages engine when a
    # record enters a stage (``flows.stages.history``), so conversion reports read a column
    # instead of searching the later visits of every visit.
    sa.Column("advanced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_flow_stage_visit_record", "form_key", "record_id", "entered_at"),
    sa.Index("ix_flow_stage_visit_stage", "form_key", "stage_key", "entered_at"),
    # One open visit per record: the database itself refuses a second.
    sa.Index(
        "ux_flow_stage_visit_open",
        "form_key",
        "record_id",
        unique=True,
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    ),
    # The SLA scans read only open visits whose deadline has not fired yet.
    sa.Index(
        "ix_flow_stage_visit_due",
        "due_at",
        sqlite_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL AND breached_at IS NULL"),
    ),
    sa.Index(
        "ix_flow_stage_visit_warn",
        "warn_at",
        sqlite_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL AND warned_at IS NULL"),
    ),
)

duplicate_candidates = sa.Table(
    "sys_duplicate_candidate",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # The import (or any batch of rows) the pair was found in, as its owner names it.
    sa.Column("batch_key", sa.String(64), nullable=False),
    sa.Column("form_key", sa.String(63), nullable=False),
    # The row of the file (as the sheet numbers it) that may be a duplicate …
    sa.Column("row", sa.Integer, nullable=False),
    # … of an earlier row of the same file, or of an existing record.
    sa.Column("other_row", sa.Integer, nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    # Why: same_value (an exact key such as USCC, phone, email), same_name, similar_name.
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("field_key", sa.String(63), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("value", sa.String(500), nullable=False),
    # merge | keep | skip; NULL while nobody decided (the import's default applies).
    sa.Column("decision", sa.String(8), nullable=True),
    sa.Column("decided_by", sa.BigInteger, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Index("ix_sys_duplicate_candidate_batch", "batch_key", "row"),
)

record_merges = sa.Table(
    "sys_record_merge",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    # The record that lives on, and the one merged into it (now in the trash).
    sa.Column("survivor_id", sa.BigInteger, nullable=False),
    sa.Column("loser_id", sa.BigInteger, nullable=False),
    # {field: "keep" | "other" | "both"} as chosen, and {place: rows repointed}.
    sa.Column("fields", JSONType, nullable=False),
    sa.Column("relinked", JSONType, nullable=False),
    sa.Column("actor_id", sa.BigInteger, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_sys_record_merge_survivor", "form_key", "survivor_id"),
    sa.UniqueConstraint("form_key", "loser_id"),
)

exports = sa.Table(
    "sys_export",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("owner_id", sa.BigInteger, nullable=True),
    # xlsx | csv
    sa.Column("format", sa.String(8), nullable=False),
    # The grid state exported: columns, filter, sort, search, view.
    sa.Column("settings", JSONType, nullable=False),
    # queued → running → done | failed
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_total", sa.BigInteger, nullable=True),
    # The finished file in the file store (a sys_file token), and why it failed.
    sa.Column("file_token", sa.String(32), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # When the current attempt began (the pace and the time left count from it), and its job.
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    sa.Index("ix_sys_export_owner", "owner_id", "id"),
)

# ---- imports (dataio) ---------------------------------------------------------------------------

imports = sa.Table(
    "sys_import",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    # SHA-256 of the file's bytes and of the mapping's canonical JSON: the same file with the
    # same mapping finds its unfinished import and goes on with it.
    sa.Column("file_hash", sa.String(64), nullable=False),
    sa.Column("mapping_hash", sa.String(64), nullable=False),
    sa.Column("sheet", sa.String(255), nullable=True),
    sa.Column("mapping", JSONType, nullable=False),
    # keep | merge | skip: what a duplicate of an existing record becomes.
    sa.Column("on_duplicate", sa.String(8), nullable=False),
    # draft (uploaded, being mapped) → running → finished → rolled_back.
    sa.Column("state", sa.String(12), nullable=False),
    # Data rows read and settled by committed batches: a resumed run skips these.
    sa.Column("rows_done", sa.Integer, nullable=False),
    sa.Column("batches", sa.Integer, nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("merged", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("rolled_back_at", UTCDateTime, nullable=True),
    # The file's data rows (NULL until counted) and the running pace, for progress and ETA.
    sa.Column("rows_total", sa.Integer, nullable=True),
    sa.Column("rows_per_second", sa.Float, nullable=True),
    # The job running the import (an import started in the browser or over HTTP).
    sa.Column("job_id", sa.BigInteger, nullable=True),
    # The last dry run: {"sample": N|null, "counts": {...}, "at": ISO time}.
    sa.Column("dry_run", JSONType, nullable=True),
    sa.Index("ix_sys_import_file", "form_key", "file_hash", "mapping_hash", "state"),
)

import_rows = sa.Table(
    "sys_import_row",
    metadata,
    # One row per data row of the file: what became of it. A record's import is found here
    # (outcome created: the import made it), and a rollback reads the created ids from here.
    sa.Column("import_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("row_number", sa.Integer, primary_key=True, autoincrement=False),
    # created | updated | merged | rejected
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    # Why a row was rejected (a list of {field, code, message, value}), or what an update
    # changed ({field: [old, new]}) so a rollback can put it back.
    sa.Column("detail", JSONType, nullable=True),
    sa.Index("ix_sys_import_row_record", "record_id"),
)

import_mappings = sa.Table(
    "sys_import_mapping",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("form_key", sa.String(63), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("document", JSONType, nullable=False),
    sa.Column("created_by", sa.BigInteger, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("form_key", "name"),
)
