"""Configuration as data: option declarations, TOML reading/writing and validation. Imports no stage."""
