"""Outputs: where the daemon's records go besides the speech service (the journal, the MQTT link, the exports)."""
