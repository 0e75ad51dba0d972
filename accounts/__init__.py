"""Accounts: people who signed in with an OpenID provider, their API keys, credits and the
images they made, kept in a SQL database (SQLAlchemy 2; Alembic migrations in migrations/).

- models.py: the tables.
- database.py: ARTPROXY_DATABASE_URL (SQLite in the state folder unless set; PostgreSQL for
  several instances), and the migration run at startup or by ``python main.py migrate``.
- credits.py: spending and granting credits, exact under concurrency in any process.
- store.py: what the routes ask: sign-in and referrals, API keys, sessions, history.
"""
