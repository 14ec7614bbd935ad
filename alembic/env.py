"""Alembic environment: runs on the connection the store hands over, or on NAS_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from api.database import default_url, make_engine
from api.tables import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    with make_engine(default_url()).begin() as own_connection:
        context.configure(connection=own_connection, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
