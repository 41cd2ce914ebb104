"""Alembic environment: migrations run on the connection the app hands over, or on DATABASE_URL."""

from alembic import context
from sqlmodel import SQLModel

from data_access import models  # noqa: F401  (registers every table on SQLModel.metadata)
from data_access.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with make_engine().connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
