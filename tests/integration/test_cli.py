"""The ``meridian`` command as scripts use it: init is idempotent, tokens print alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meridian.cli.main import cli


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MERIDIAN_DATABASE_URL", database_url)
    monkeypatch.setenv("MERIDIAN_PASSWORD_HASHING", "argon2-minimal-for-tests")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_is_idempotent_and_prints_a_working_token(env: Path) -> None:
    code, out, err = run(
        "init", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-pass"
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("mer_") and "\n" not in token
    code, out, err = run(
        "init", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-pass"
    )
    assert code == 0
    assert out == ""
    assert "already exists" in err


def test_token_create_prints_the_token_alone(env: Path) -> None:
    run("init")
    code, _, err = run(
        "user", "create", "--email", "sales@acme.test", "--password", "long-enough-1"
    )
    assert code == 0, err
    code, out, _ = run("token", "create", "--user", "sales@acme.test", "--name", "erp")
    assert code == 0
    assert out.startswith("mer_") and out.count("\n") == 1
    code, _, err = run("token", "create", "--user", "nobody@acme.test", "--name", "x")
    assert code != 0


def test_demo_loads_the_idc_solution_and_app_export_round_trips(env: Path) -> None:
    code, out, err = run("demo", "--scale", "60", "--admin-email", "demo@acme.test")
    assert code == 0, err
    assert out.strip().startswith("mer_")
    assert "opportunity 60" in err
    assert "sales team: 华北销售部 3, 华东销售部 3, 华南销售部 3, 西部销售部 3" in err
    code, _, err = run("demo", "--scale", "60", "--if-empty", "--admin-email", "demo@acme.test")
    assert code == 0 and "already installed" not in err
    target = env / "idc.json"
    code, _, err = run("app", "export", "idc_crm", "--output", str(target))
    assert code == 0, err
    package = json.loads(target.read_text(encoding="utf-8"))
    assert [f["key"] for f in package["forms"]][:3] == ["customer", "contact", "opportunity"]
    code, _, err = run("app", "import", str(target))
    assert code != 0  # the app exists already; nothing is imported twice


def test_user_create_with_role_and_department_then_audit_verify(env: Path) -> None:
    run("init")
    code, _, err = run(
        "user", "create", "--email", "li@acme.test", "--password", "Passw0rd-long",
        "--role", "manager", "--department", "总部/华东销售",
    )  # fmt: skip
    assert code == 0, err
    assert "manager" in err
    code, _, err = run(
        "user", "create", "--email", "x@acme.test", "--password", "short", "--role", "nope"
    )
    assert code != 0 and "password" in err
    code, _, err = run(
        "user", "update", "--email", "li@acme.test", "--role", "member", "--role", "read_only",
        "--department", "总部/华南销售", "--inactive",
    )  # fmt: skip
    assert code == 0, err
    assert "switched off" in err and "member, read_only" in err
    code, _, err = run("user", "update", "--email", "li@acme.test", "--role", "wizard")
    assert code == 1 and "no such role" in err
    code, _, err = run("user", "update", "--email", "nobody@acme.test", "--active")
    assert code == 1 and "nobody@acme.test" in err
    code, _, err = run("audit", "verify")
    assert code == 0, err
    assert "intact" in err
    code, _, err = run("dossier", "customer", "1", "--out", str(env / "d.zip"))
    assert code == 1 and "customer" in err  # no such form yet: a clear error, no file
    assert not (env / "d.zip").exists()


def test_departments_are_listed_moved_renamed_and_removed_from_the_shell(env: Path) -> None:
    run("init", "--admin-email", "ops@acme.test", "--admin-password", "s3cret-pass")
    code, _, err = run(
        "user", "create", "--email", "wang@acme.test", "--password", "Passw0rd-long",
        "--department", "总部/华东销售/上海组",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run("user", "create", "--email", "zhao@acme.test", "--password", "Passw0rd-long",
                       "--department", "总部/华南销售")  # fmt: skip
    assert code == 0, err
    code, _, err = run(
        "department", "update", "总部/华东销售/上海组", "--parent", "华南销售",
        "--name", "深圳组", "--manager", "zhao@acme.test",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run("department", "list")
    paths = [line.split("\t") for line in out.splitlines()]
    assert [p[1] for p in paths] == [
        "总部",
        "总部/华东销售",
        "总部/华南销售",
        "总部/华南销售/深圳组",
    ]
    assert len(paths[3]) == 3  # the manager's id
    code, _, err = run("department", "update", "总部/华东销售", "--parent", "总部", "--top")
    assert code == 2 and "not both" in err
    code, _, err = run("department", "update", "总部", "--parent", "总部/华南销售/深圳组")
    assert code == 1 and "cannot move under itself" in err
    code, _, err = run("department", "delete", "总部/华南销售")
    assert code == 1 and "1 sub-departments" in err and "1 members" in err
    code, _, err = run("department", "delete", "总部/华东销售")
    assert code == 0, err
    code, out, _ = run("department", "list")
    assert "华东销售" not in out
    code, _, err = run("department", "delete", "总部/华东销售")
    assert code == 1 and "华东销售" in err


def test_roles_and_their_permissions_from_the_shell(env: Path) -> None:
    run("init")
    run("demo", "--scale", "20", "--admin-email", "demo@acme.test")
    code, _, err = run("role", "create", "finance", "财务")
    assert code == 0, err
    document = env / "finance.json"
    document.write_text(
        json.dumps({"read": "all", "export": "all", "fields": {"description": "hidden"}}),
        encoding="utf-8",
    )
    code, out, err = run("role", "permissions", "finance", "opportunity", "--set", str(document))
    assert code == 0, err
    assert json.loads(out)["fields"] == {"description": "hidden"}
    code, out, _ = run("role", "permissions", "finance", "opportunity")
    assert json.loads(out)["read"] == "all" and json.loads(out)["update"] is False
    document.write_text("{read: all", encoding="utf-8")
    code, _, err = run("role", "permissions", "finance", "opportunity", "--set", str(document))
    assert code == 1 and "not JSON" in err
    code, _, err = run("role", "rename", "finance", "财务部")
    assert code == 0, err
    code, out, _ = run("role", "list")
    assert "finance\t财务部\n" in out and "member\t" in out and "\tpreset" in out
    code, _, err = run("role", "delete", "member")
    assert code == 1 and "preset" in err
    code, _, err = run("role", "delete", "finance")
    assert code == 0, err
    code, out, _ = run("role", "list")
    assert "finance" not in out
    code, _, err = run("role", "permissions", "finance", "opportunity")
    assert code == 1 and "finance" in err


def test_plugins_lists_each_plugin_and_what_it_registers(env: Path) -> None:
    code, out, err = run("plugins")
    assert code == 0, err
    lines = out.splitlines()
    assert "meridian.rules.plugin (built in)" in lines
    # The rules plugin registers the create_task action beside its own (issue 16: tasks).
    assert (
        "  register_rule_actions: update, create, assign, notify, tag, webhook, create_task,"
        " start_approval" in lines
    )
    tasks = lines.index("meridian.flows.tasks.plugin (built in)")
    assert lines[tasks + 1] == "  register_job_handlers: tasks.overdue"
    assert "  register_subscribers: meridian.rules.engine.on_record_changes" in lines
    ratings = lines.index("ratings (meridian-ratings 0.1.0)")
    assert lines[ratings + 1 :] == [
        "  menu_actions: (per request)",
        "  register_field_types: rating",
        "  register_reactions: meridian_ratings._forward",
        "  register_routes: /plugins/ratings",
        "  register_rule_actions: rate",
    ]
