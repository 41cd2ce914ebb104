"""Reliability: crashes, hostile input, backups, migrations with data."""
