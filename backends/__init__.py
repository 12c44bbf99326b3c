"""One module (or package) per real system opsconsole watches; nothing here imports Textual."""
