"""The meeting record as people and dashboards see it: exports, catch-up over MQTT, the command line.

The record itself lives in the journal (outputs/journal/); `meetings` holds the records it gives back,
`export` turns a meeting into text formats, `catchup` and `responder` answer `<base>/request/transcript`,
`commands` is the command line. docs/archive.md.
"""
