"""The ``meridian`` command: init, serve, demo, app, token, user, audit, dossier, import, bench."""

from __future__ import annotations

import io
import json
import runpy
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import uvicorn

from meridian.access import manage, organisation, permissions
from meridian.access.tokens import create_token
from meridian.access.users import create_user, find_user_id, get_user_id
from meridian.cli.audit import audit_cli
from meridian.cli.documents import documents_cli
from meridian.cli.exporting import export_command
from meridian.cli.importing import import_command, rollback_command
from meridian.cli.plugins import describe_plugins
from meridian.cli.worker import worker
from meridian.core.actor import Actor
from meridian.core.heap import freeze_started
from meridian.dataio.dossier import build_dossier
from meridian.documents.assets import set_asset
from meridian.errors import FieldError, MeridianError, ValidationFailed
from meridian.http.deps import Workspace
from meridian.jobs import queue
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import start_in_background
from meridian.schema.catalog import get_form
from meridian.schema.packages import export_app, import_app
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.backdate import backdate_samples
from meridian.solutions.idc_crm.seal import sample_seal_png
from meridian.solutions.idc_crm.stage_history import seed_stage_history
from meridian.solutions.idc_crm.team import seed_sales_team
from meridian.solutions.loader import (
    install_approvals,
    install_pipelines,
    install_solution,
    load_sample_data,
)
from meridian.workspace import create_workspace

# How long a new server worker process may take to start before uvicorn gives up on it.
WORKER_STARTUP_SECONDS = 60

cli = typer.Typer(
    help="Meridian (子午): no-code customer lifecycle platform.", no_args_is_help=True
)
app_cli = typer.Typer(help="Export and import apps as JSON packages.", no_args_is_help=True)
token_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
user_cli = typer.Typer(help="Users.", no_args_is_help=True)
department_cli = typer.Typer(help="Departments.", no_args_is_help=True)
role_cli = typer.Typer(help="Roles and their permissions per form.", no_args_is_help=True)
cli.add_typer(app_cli, name="app")
cli.add_typer(token_cli, name="token")
jobs_cli = typer.Typer(help="Background jobs: list, retry or discard.", no_args_is_help=True)
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(user_cli, name="user")
cli.add_typer(department_cli, name="department")
cli.add_typer(role_cli, name="role")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(documents_cli, name="documents")


@contextmanager
def _workspace() -> Iterator[Workspace]:
    """The workspace for one command; its connections are closed when the command ends."""
    workspace = create_workspace(Settings())
    try:
        yield workspace
    except MeridianError as exc:
        _say(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        workspace.engine.dispose()


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _ensure_admin(workspace: Workspace, email: str, password: str | None) -> tuple[int, str | None]:
    """The admin's id, creating the admin (with a generated password when none is given)."""
    with workspace.transaction() as conn:
        existing = find_user_id(conn, email)
        if existing is not None:
            return existing, None
        password = password or secrets.token_urlsafe(12)
        user_id = create_user(
            conn=conn,
            email=email,
            name="Administrator",
            password=password,
            passwords=workspace.passwords,
            is_admin=True,
        )
    return user_id, password


@cli.command()
def init(
    admin_email: str = typer.Option("", envvar="MERIDIAN_ADMIN_EMAIL", help="First admin's email."),
    admin_password: str = typer.Option("", envvar="MERIDIAN_ADMIN_PASSWORD", help="Its password."),
) -> None:
    """Create or upgrade the database; create the first admin. Safe to run again."""
    with _workspace() as workspace:
        _say(f"database ready: {workspace.engine.url.render_as_string(hide_password=True)}")
        if admin_email:
            user_id, password = _ensure_admin(workspace, admin_email, admin_password or None)
            if password is None:
                _say(f"admin {admin_email} already exists (id {user_id})")
            else:
                with workspace.transaction() as conn:
                    token = create_token(conn=conn, user_id=user_id, name="init")
                _say(f"admin {admin_email} created (id {user_id})")
                if not admin_password:
                    _say(f"password: {password}")
                _say("API token (shown once):")
                typer.echo(token)


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
    workers: int = typer.Option(1, help="Uvicorn worker processes."),
    background_jobs: bool = typer.Option(
        True,
        "--jobs/--no-jobs",
        help="Run background jobs in this process too (turn off when 'meridian worker' runs).",
    ),
) -> None:
    """Serve the web UI and the API (and, by default, run background jobs)."""
    with _workspace() as workspace:  # creates or upgrades the database before serving
        stop = None
        handlers = job_handlers(workspace) if background_jobs else None
        # This process runs the background jobs (and, with one worker, the app as well):
        # what it has built so far is frozen out of later garbage collections (core/heap.py).
        # Before the job threads start: freezing imports pypinyin, which a job importing it at
        # the same moment in another thread found half made (ImportError, the jobs died).
        freeze_started()
        if handlers is not None:
            stop, _ = start_in_background(
                workspace.engine,
                handlers,
                workspace.tz,
                lease=workspace.settings.job_lease,
            )
        try:
            uvicorn.run(
                "meridian.app:create_app_from_environment",
                factory=True,
                host=host,
                port=port,
                reload=reload,
                workers=workers,
                # The C event loop and HTTP parser a production service runs: both are
                # dependencies, so a missing one fails here at start, not as a slow server.
                loop="uvloop",
                http="httptools",
                # A worker process imports the whole application before it answers the
                # supervisor's first health check; on a busy host that takes longer than
                # uvicorn's 5 s, and a worker killed for it is started again, forever.
                timeout_worker_healthcheck=WORKER_STARTUP_SECONDS,
                # Forwarded headers count only from the proxies the settings name (none by
                # default), the same rule client addresses are read by inside the app.
                proxy_headers=bool(workspace.settings.trusted_proxies),
                forwarded_allow_ips=workspace.settings.trusted_proxies or None,
            )
        finally:
            if stop is not None:
                stop.set()


cli.command()(worker)


@jobs_cli.command("list")
def jobs_list(
    state: str | None = typer.Option(None, help="ready, running, done or dead."),
    limit: int = typer.Option(50),
    lang: str = typer.Option("en", "--lang", help="Language of the errors: en or zh-CN."),
) -> None:
    """Show jobs, newest first (JSON lines on stdout)."""
    with _workspace() as workspace:
        with workspace.read() as conn:
            for job in queue.list_jobs(conn, state=state, limit=limit, locale=lang):
                typer.echo(json.dumps(job, ensure_ascii=False, default=str))


@jobs_cli.command("retry")
def jobs_retry(job_id: int) -> None:
    """Give a dead job a fresh set of attempts."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            queue.retry_dead(conn, job_id)
    _say(f"job {job_id} is queued again")


@jobs_cli.command("discard")
def jobs_discard(job_id: int) -> None:
    """Close a dead job for good."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            queue.discard_dead(conn, job_id)
    _say(f"job {job_id} discarded")


@cli.command()
def demo(
    seed: int = typer.Option(7, help="Random seed; the same seed gives the same data."),
    scale: int = typer.Option(2000, help="Number of opportunities to generate."),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if the demo is loaded."),
    admin_email: str = typer.Option("admin@meridian.local", envvar="MERIDIAN_ADMIN_EMAIL"),
    admin_password: str = typer.Option("", envvar="MERIDIAN_ADMIN_PASSWORD"),
) -> None:
    """Load the IDC CRM solution with realistic sample data, and print a login and a token."""
    with _workspace() as workspace:
        user_id, password = _ensure_admin(workspace, admin_email, admin_password or None)
        actor = Actor(user_id=user_id, is_admin=True, name="Administrator")
        app, forms = idc_crm.load_package()
        installed = install_solution(
            workspace.engine,
            actor,
            app,
            forms,
            idc_crm.load_rules(),
            idc_crm.load_document_templates(),
            idc_crm.load_reports(),
        )
        if installed:
            _say(f"installed {app.label} ({len(forms)} forms); generating {scale} opportunities …")
            with workspace.transaction() as conn:
                set_asset(
                    conn=conn,
                    actor=actor,
                    store=workspace.settings.file_store_dir,
                    name="seal",
                    filename="sample-seal.png",
                    content_type="image/png",
                    stream=io.BytesIO(sample_seal_png()),
                )

            def progress(form_key: str, count: int) -> None:
                if count % 10_000 == 0:
                    _say(f"  {form_key}: {count}")

            # The sample's "today" is today: a demo anchored elsewhere showed contracts 执行中
            # months past their end date, and quotes valid long after they had lapsed.
            today = workspace.clock.now().astimezone(workspace.tz).date()
            counts = load_sample_data(
                workspace.engine,
                actor,
                idc_crm.generate(seed=seed, scale=scale, anchor=today),
                owners=[user_id],
                progress=progress,
            )
            _say("loaded " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            install_approvals(workspace.engine, actor, idc_crm.load_approvals())
            install_pipelines(workspace.engine, actor, idc_crm.load_pipelines())
            visits = seed_stage_history(workspace.engine, seed=seed)
            backdate_samples(workspace.engine)
            _say(f"stage history: {visits} visits")
            team = seed_sales_team(workspace.engine, workspace.passwords)
            _say("sales team: " + ", ".join(f"{k} {len(v)}" for k, v in team.items()))
        elif not if_empty:
            _say(f"{app.label} is already installed; nothing loaded")
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=user_id, name="demo")
        _say(
            f"admin login: {admin_email}"
            + (f"  password: {password}" if password else " (existing password)")
        )
        _say("API token:")
        typer.echo(token)


@app_cli.command("export")
def app_export(
    app_key: str,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (stdout if omitted)."
    ),
) -> None:
    """Write an app and its forms as one JSON package."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            package = export_app(conn=conn, actor=Actor.system(), app_key=app_key)
        text = json.dumps(package, ensure_ascii=False, indent=2)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
            _say(f"wrote {output}")


@app_cli.command("import")
def app_import(package_file: Path) -> None:
    """Create an app and its forms from a JSON package (all or nothing)."""
    with _workspace() as workspace:
        package = json.loads(package_file.read_text(encoding="utf-8"))
        with workspace.transaction() as conn:
            app = import_app(conn=conn, actor=Actor.system(), package=package)
        _say(f"imported app {app.key} ({len(package.get('forms', []))} forms)")


@token_cli.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="The user's email."),
    name: str = typer.Option(..., "--name", help="What the token is for."),
) -> None:
    """Print a new API token (alone on stdout, so scripts can capture it)."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=get_user_id(conn, user), name=name)
        typer.echo(token)


@user_cli.command("create")
def user_create(
    email: str = typer.Option(..., "--email"),
    password: str = typer.Option(..., "--password"),
    name: str = typer.Option("", "--name"),
    role: list[str] = typer.Option(
        ["member"], "--role", help="A role key; repeat for several (administrator, builder, …)."
    ),
    department: str | None = typer.Option(
        None,
        "--department",
        help="Main department by path (总部/华东销售); missing departments are created.",
    ),
    admin: bool = typer.Option(False, "--admin", help="Same as --role administrator."),
) -> None:
    """Create a user with roles and a department; the password is the one to log in with."""
    roles = [*role, *(["administrator"] if admin else [])]
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            department_id = (
                organisation.ensure_department_path(conn, department) if department else None
            )
            user = manage.add_user(
                conn,
                Actor.system(),
                email=email,
                name=name,
                password=password,
                passwords=workspace.passwords,
                roles=roles,
                department=department_id,
                must_change_password=False,
            )
        _say(f"user {user['email']} created (id {user['id']}, roles {', '.join(user['roles'])})")


@user_cli.command("update")
def user_update(
    email: str = typer.Option(..., "--email", help="Whom to change."),
    name: str | None = typer.Option(None, "--name"),
    role: list[str] = typer.Option(
        [], "--role", help="Replace the roles; repeat for several (administrator, builder, …)."
    ),
    department: str | None = typer.Option(
        None,
        "--department",
        help="New main department by path (总部/华东销售); missing departments are created.",
    ),
    active: bool | None = typer.Option(
        None, "--active/--inactive", help="Let the user sign in, or switch them off."
    ),
) -> None:
    """Change a user; only what is given changes. Switching off ends their sessions."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            changes: dict[str, Any] = {}
            if name is not None:
                changes["name"] = name
            if role:
                changes["roles"] = role
            if department is not None:
                changes["department"] = organisation.ensure_department_path(conn, department)
            if active is not None:
                changes["is_active"] = active
            user = manage.update_user(conn, Actor.system(), get_user_id(conn, email), changes)
        state = "active" if user["is_active"] else "switched off"
        _say(f"user {user['email']} updated ({state}, roles {', '.join(user['roles'])})")


@user_cli.command("import")
def user_import(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Create users from a CSV file (email,name,password,roles,department), all or none."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            created = manage.import_users(
                conn,
                Actor.system(),
                path.read_text(encoding="utf-8"),
                passwords=workspace.passwords,
            )
        _say(f"{len(created)} users created; each must change the password at first login")


@department_cli.command("list")
def department_list() -> None:
    """Print the department tree: id, path and manager id."""
    with _workspace() as workspace:
        with workspace.read() as conn:
            found = organisation.list_departments(conn)
    by_id = {d["id"]: d for d in found}

    def path(department: dict[str, Any]) -> str:
        parent = by_id.get(department["parent_id"])
        return f"{path(parent)}/{department['name']}" if parent else department["name"]

    for department in sorted(found, key=path):
        manager = department["manager_id"]
        typer.echo(f"{department['id']}\t{path(department)}" + (f"\t{manager}" if manager else ""))


@department_cli.command("update")
def department_update(
    department: str = typer.Argument(..., help="The department by path (总部/华东销售)."),
    name: str | None = typer.Option(None, "--name", help="Rename it."),
    parent: str | None = typer.Option(
        None, "--parent", help="Move it under this department (by path)."
    ),
    top: bool = typer.Option(False, "--top", help="Move it to the top of the tree."),
    manager: str | None = typer.Option(None, "--manager", help="Its manager, by email."),
) -> None:
    """Rename, move or re-manage a department; only what is given changes."""
    if parent is not None and top:
        _say("error: give --parent or --top, not both")
        raise typer.Exit(2)
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            changes: dict[str, Any] = {}
            if name is not None:
                changes["name"] = name
            if parent is not None:
                changes["parent_id"] = organisation.department_id_by_name(conn, parent)
            if top:
                changes["parent_id"] = None
            if manager is not None:
                changes["manager_id"] = get_user_id(conn, manager)
            department_id = organisation.department_id_by_name(conn, department)
            manage.update_department(conn, Actor.system(), department_id, changes)
        _say(f"department {department_id} updated")


@department_cli.command("delete")
def department_delete(
    department: str = typer.Argument(..., help="The department by path (总部/华东销售)."),
) -> None:
    """Remove an empty department (no sub-departments, members or shared records)."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            department_id = organisation.department_id_by_name(conn, department)
            manage.delete_department(conn, Actor.system(), department_id)
        _say(f"department {department} removed")


@role_cli.command("list")
def role_list() -> None:
    """Print every role: key, label, and whether it is a preset."""
    with _workspace() as workspace:
        with workspace.read() as conn:
            found = organisation.list_roles(conn)
    for role in found:
        typer.echo(f"{role['key']}\t{role['label']}" + ("\tpreset" if role["preset"] else ""))


@role_cli.command("create")
def role_create(
    key: str = typer.Argument(..., help="Lower-case letters, digits and _ (e.g. finance)."),
    label: str = typer.Argument(..., help="What people see (e.g. 财务)."),
) -> None:
    """Add a role; it may do nothing until its permissions are set."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            manage.create_role(conn, Actor.system(), key, label)
        _say(f"role {key} created; set what it may do with: meridian role permissions {key} FORM")


@role_cli.command("rename")
def role_rename(key: str = typer.Argument(...), label: str = typer.Argument(...)) -> None:
    """Give a role another label; its key stays."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            manage.rename_role(conn, Actor.system(), key, label)
        _say(f"role {key} is now called {label}")


@role_cli.command("delete")
def role_delete(key: str = typer.Argument(...)) -> None:
    """Remove a role nobody holds, with its permissions (presets stay)."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            manage.delete_role(conn, Actor.system(), key)
        _say(f"role {key} removed")


@role_cli.command("permissions")
def role_permissions(
    key: str = typer.Argument(..., help="The role."),
    form: str = typer.Argument(..., help="The form key."),
    document: Path | None = typer.Option(
        None,
        "--set",
        exists=True,
        dir_okay=False,
        help="A JSON file with the permission document to set (as PUT /api/v1/roles/…).",
    ),
) -> None:
    """Print a role's permissions on a form as JSON; with --set, replace them first."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            organisation.require_role(conn, key)
            target = get_form(conn, form)
            if document is not None:
                try:
                    rules = json.loads(document.read_text(encoding="utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    message = f"the file is not JSON in UTF-8: {exc}"
                    raise ValidationFailed(
                        [FieldError("--set", "invalid_json", message, str(document))]
                    ) from None
                shown = manage.set_form_permissions(conn, Actor.system(), key, target, rules)
            else:
                shown = permissions.form_rules(conn, key, target)
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))


@cli.command()
def dossier(
    form: str = typer.Argument(..., help="Form key, e.g. customer."),
    record_id: int = typer.Argument(..., help="Record id."),
    out: Path = typer.Option(..., "--out", help="Where to write the ZIP."),
) -> None:
    """Write the compliance dossier of one record (ZIP with manifest and checksums)."""
    with _workspace() as workspace:
        with workspace.transaction() as conn:
            archive = build_dossier(
                conn=conn,
                actor=Actor.system(),
                form=get_form(conn, form),
                record_id=record_id,
                file_root=workspace.settings.file_store_dir,
                tz=workspace.tz,
            )
    out.write_bytes(archive)
    _say(f"dossier of {form} {record_id} written to {out} ({len(archive):,} bytes)")


cli.command("import")(import_command(lambda: _workspace()))
cli.command("import-rollback")(rollback_command(lambda: _workspace()))
cli.command("export")(export_command(lambda: _workspace()))


@cli.command("plugins")
def plugins_list() -> None:
    """List the plugins — Meridian's own and the installed ones — and what each registers."""
    with _workspace() as workspace:
        for line in describe_plugins(workspace):
            typer.echo(line)


@cli.command()
def bench(
    name: str = typer.Argument(
        ..., help="Benchmark name, e.g. records (runs bench/records_bench.py)."
    ),
    args: list[str] = typer.Argument(None),
) -> None:
    """Run a benchmark script from ``bench/`` with the given arguments."""
    script = Path("bench") / f"{name}_bench.py"
    if not script.exists():
        raise typer.BadParameter(f"no benchmark {script}; run from the repository root")
    sys.argv = [str(script), *(args or [])]
    runpy.run_path(str(script), run_name="__main__")


def main() -> None:
    try:
        cli()
    except MeridianError as exc:
        _say(f"error: {exc.detail}")
        sys.exit(1)
