"""One Textual Screen per view of the console."""
