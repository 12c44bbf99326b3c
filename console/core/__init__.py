"""The kernel: plain data and small services every backend and every front end may use.

Nothing here imports a backend, the runtime above the backends, or Textual.
"""
