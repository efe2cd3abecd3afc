"""Pure domain logic. Never imports dagster, never reads the environment, never opens the
network or the database."""
