"""The fleet: many hosts watched over the user's own OpenSSH, each serving `opsconsole bridge`."""
