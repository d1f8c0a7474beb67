import os

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg2://orders:orders@localhost:5432/orders"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
