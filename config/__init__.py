"""Settings for SIS Integration, read from the environment."""
