"""The catalog schema's newest revision, importable without SQLAlchemy or alembic."""

# The newest migration's revision (a test checks it against alembic's head): a catalog already
# at it is opened without importing alembic or taking the write lock, and only such a catalog
# is read by the quick read path; both keep read-only commands such as `astrocat search` fast.
SCHEMA_HEAD = "0010"
