"""Manual pages and the script that writes them (``python -m man.build``)."""
