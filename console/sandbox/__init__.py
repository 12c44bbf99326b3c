"""Throwaway local services on loopback: Redis, PostgreSQL, a Docker engine, systemd in a
container, Celery workers.

`opsconsole demo` runs its stack with them and the test suite starts its real services with
them; `install.sh` installs and caches what they need (Debian 12, as root).
"""
