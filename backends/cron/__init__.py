"""cron jobs (backend.py: the `[[cron]]` kind); tabs.py is light enough for discovery."""
