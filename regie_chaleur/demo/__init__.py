"""The demonstration: an Ivry-like network in one command (network, billing set-up, fast history, live parts)."""
