"""The store: the only package that talks SQLAlchemy. Schema, engine, upserts, migrations."""
