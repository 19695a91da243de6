"""The meeting record: a SQLite archive of meetings, pauses and final utterances, with exports and catch-up.

`store` is the database, `writer` the one thread that writes it, `export` turns a meeting into text
formats, `catchup` answers `<base>/request/transcript`, `commands` is the command line. docs/archive.md.
"""
