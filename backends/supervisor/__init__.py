"""Supervisor programs (backend.py: the `[[supervisor]]` kind); rpc.py also serves discovery."""
