"""Outputs: where the daemon's records go besides the speech service (the MQTT link, the archive)."""
