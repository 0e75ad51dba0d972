"""The accounts' database on SQLite and PostgreSQL: migrations, instances migrating together,
and credits that stay exact under concurrency across processes."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from accounts import credits, database
from accounts.models import Account, Base
from testing import free_port
from tests.real_server import COMMANDS, PROJECT_DIR, environment

HEAD = database.SCHEMA_HEAD


def engine_for(setting: str):
    return database.connect(database.database_url({"DATABASE_URL": setting, "STATE_DIR": "x"}))


def new_account(engine, credits_earned: int) -> int:
    with engine.begin() as connection:
        return connection.execute(insert(Account).values(
            provider="test", subject="someone", referral_code="code", created_at=0.0,
            credits_earned=credits_earned, credits_spent=0).returning(Account.id)).scalar_one()


def available(engine, account_id: int) -> int:
    with engine.connect() as connection:
        row = connection.execute(select(Account.credits_earned, Account.credits_spent)
                                 .where(Account.id == account_id)).one()
    return row.credits_earned - row.credits_spent


def all_go_at_once(processes: list[subprocess.Popen]) -> None:
    """Once every process has loaded and connected (says "ready"), tell them all to go."""
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()


def test_the_migrations_make_what_the_models_describe(database_setting):
    engine = engine_for(database_setting)
    assert database.schema_version(engine) is None
    database.migrate(engine)
    assert database.schema_version(engine) == HEAD
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    database.migrate(engine)  # at the newest already: nothing to do, nothing fails
    assert database.schema_version(engine) == HEAD


def test_the_head_that_startup_checks_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(database.MIGRATIONS))
    assert ScriptDirectory.from_config(alembic_config).get_current_head() == database.SCHEMA_HEAD


MIGRATOR = """
import sys
from accounts import database
engine = database.connect(database.database_url({"DATABASE_URL": sys.argv[1], "STATE_DIR": "x"}))
engine.connect().close()
print("ready", flush=True)
sys.stdin.readline()  # all processes go at once
database.migrate(engine)
"""


def test_instances_starting_together_on_an_empty_database_migrate_it_once(database_setting):
    starts = [subprocess.Popen([sys.executable, "-c", MIGRATOR, database_setting],
                               cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    all_go_at_once(starts)
    # Without the lock, the later ones fail on tables that another has just made.
    assert [start.communicate(timeout=120)[1].strip().splitlines()[-1:] for start in starts] \
        == [[]] * 4
    assert [start.returncode for start in starts] == [0] * 4
    assert database.schema_version(engine_for(database_setting)) == HEAD


def test_the_migrate_command_says_where_the_database_is_and_exits(database_setting, tmp_path):
    env = environment(tmp_path / "images", free_port(), ARTPROXY_DATABASE_URL=database_setting)
    result = subprocess.run(COMMANDS["python main.py"] + ["migrate"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip().endswith(f"is at migration {HEAD}")
    assert database.schema_version(engine_for(database_setting)) == HEAD


def test_twenty_requests_at_once_with_five_credits_left_spend_exactly_five(database_setting):
    engine = engine_for(database_setting)
    database.migrate(engine)
    account = new_account(engine, credits_earned=5)
    with ThreadPoolExecutor(max_workers=20) as pool:
        spent = list(pool.map(lambda _: credits.spend(engine, account), range(20)))
    assert spent.count(True) == 5 and available(engine, account) == 0


SPENDER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from accounts import credits, database
engine = database.connect(database.database_url({"DATABASE_URL": sys.argv[1], "STATE_DIR": "x"}))
engine.connect().close()
print("ready", flush=True)
sys.stdin.readline()  # all processes go at once
with ThreadPoolExecutor(max_workers=10) as pool:
    print(sum(pool.map(lambda _: credits.spend(engine, int(sys.argv[2])), range(10))))
"""


def test_credits_stay_exact_across_processes(database_setting):
    engine = engine_for(database_setting)
    database.migrate(engine)
    account = new_account(engine, credits_earned=5)
    spenders = [subprocess.Popen([sys.executable, "-c", SPENDER, database_setting, str(account)],
                                 cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    all_go_at_once(spenders)
    made = [int(spender.communicate(timeout=60)[0]) for spender in spenders]
    assert sum(made) == 5 and available(engine, account) == 0


def test_a_refund_and_a_grant_change_what_is_left(database_setting):
    engine = engine_for(database_setting)
    database.migrate(engine)
    account = new_account(engine, credits_earned=1)
    assert credits.spend(engine, account) and not credits.spend(engine, account)
    credits.refund(engine, account)  # the image failed: its credit comes back
    assert available(engine, account) == 1
    assert credits.grant(engine, account, 20) and available(engine, account) == 21
    assert not credits.grant(engine, account + 1000, 5)  # no such account


def test_urls_are_taken_as_people_write_them(tmp_path):
    assert database.database_url({"DATABASE_URL": "postgresql://me@db:5432/art",
                                  "STATE_DIR": "x"}) == "postgresql+psycopg://me@db:5432/art"
    assert database.database_url({"DATABASE_URL": "", "STATE_DIR": str(tmp_path)}) == \
        f"sqlite:///{tmp_path / 'accounts.sqlite'}"


def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(tmp_path):
    url = f"postgresql://artproxy:hunter2@127.0.0.1:{free_port()}/artproxy"
    env = environment(tmp_path / "images", free_port(), ARTPROXY_DATABASE_URL=url)
    result = subprocess.run(COMMANDS["python main.py"] + ["migrate"], cwd=PROJECT_DIR, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "hunter2" not in result.stderr
    assert result.stderr.startswith("artproxy: cannot migrate the accounts' database "
                                    "postgresql+psycopg://artproxy:***@127.0.0.1")
    assert len(result.stderr.strip().splitlines()) == 1
